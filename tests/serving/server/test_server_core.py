"""ServerCore: version policies and availability-preserving loads, in-process on real SavedModels."""
import os

import grpc
import pytest

from serving.server import errors
from serving.server.server_core import ServerCore, aspired_versions


def _policy(text):
    from google.protobuf import text_format
    from tensorflow_serving.config import file_system_storage_path_source_pb2 as fs
    return text_format.Parse(text, fs.FileSystemStoragePathSourceConfig.ServableVersionPolicy())


@pytest.mark.parametrize("text,expected", [
    ("", {9}),
    ("latest { num_versions: 2 }", {5, 9}),
    ("all {}", {1, 5, 9}),
    ("specific { versions: 1 versions: 7 }", {1}),
])
def test_version_policies(text, expected):
    assert aspired_versions(_policy(text) if text else None, [1, 5, 9]) == expected
    assert aspired_versions(_policy(text) if text else None, []) == set()


def test_server_core_keeps_serving_through_bad_versions(library, tmp_path):
    """ServerCore in-process on real SavedModels: availability-preserving load/unload."""
    base = str(tmp_path / "m")
    library.push(library.contract[1], base, 1)
    core = ServerCore(max_num_load_retries=0, enable_model_warmup=True)
    from tensorflow_serving.config import model_server_config_pb2
    cfg = model_server_config_pb2.ModelServerConfig()
    model = cfg.model_config_list.config.add(name="m", base_path=base, model_platform="tensorflow")
    core.reload_config(cfg)
    assert core.servable("m").version == 1
    os.makedirs(os.path.join(base, "2"))  # empty version dir: load fails
    core.poll_once()
    states = {s.version: (s.state, s.error_code) for s in core.version_states("m")}
    assert states[1] == ("AVAILABLE", grpc.StatusCode.OK)
    assert states[2][0] == "END" and states[2][1] != grpc.StatusCode.OK
    held = core.servable("m")
    library.push(library.contract[2], base, 3)
    core.poll_once()
    assert core.servable("m").version == 3
    assert {s.version: s.state for s in core.version_states("m")} == {1: "END", 2: "END", 3: "AVAILABLE"}
    assert held.version == 1 and held.predict  # an in-flight reference survives the unload
    with pytest.raises(errors.ServingError, match=r"Specific\(m, 1\)"):
        core.servable("m", version=1)
    model.model_version_policy.all.SetInParent()  # 'all' reloads the unloaded v1, not the broken v2
    model.version_labels["old"] = 1
    with pytest.raises(errors.ServingError, match="version 1 of model m, which is not currently available"):
        core.reload_config(cfg)  # labels are checked against the versions AVAILABLE before the reload
    del model.version_labels["old"]
    core.reload_config(cfg)
    model.version_labels["old"] = 1
    core.reload_config(cfg)
    assert core.servable("m", label="old").version == 1 and core.servable("m").version == 3
    model.version_labels["old"] = 2
    with pytest.raises(errors.ServingError, match="version 2 of model m, which is not currently available"):
        core.reload_config(cfg)
    assert core.servable("m", label="old").version == 1

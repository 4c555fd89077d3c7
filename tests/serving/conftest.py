"""Fixtures: tiny real SavedModels (built once per session) and model servers as subprocesses."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import shutil  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

from serving.tools import contract_model  # noqa: E402
from serving.client import tf_dtype  # noqa: E402
from tests.serving import saved_models  # noqa: E402
from tests.serving.server_process import ServerProcess  # noqa: E402
from tests.serving.cli_process import Blocking  # noqa: E402
from components.infra_validator.model_server_process import free_ports  # noqa: E402
from data.contract import MODEL_NAME  # noqa: E402

MAX_BYTES = 1 << 20  # request size limit given to the servers under test
BIAS = {1: -0.5, 2: 0.7, 3: 1.5}


class ModelLibrary:
    """Pre-built model versions; `push()` copies one into a base path atomically (tmp dir + rename)."""

    def __init__(self, root: str):
        self.root = root
        self.contract = {v: contract_model.write_contract_model(os.path.join(root, f"contract-{v}"), bias=b,
                                                              warmup_requests=2 if v == 1 else 0)
                         for v, b in BIAS.items()}
        self.tf1 = saved_models.write_tf1_classify_regress_model(os.path.join(root, "tf1"))
        self._loaded = {}

    def push(self, source: str, base_path: str, version: int) -> str:
        os.makedirs(base_path, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".push-", dir=base_path)
        shutil.rmtree(tmp)
        shutil.copytree(source, tmp)
        target = os.path.join(base_path, str(version))
        os.rename(tmp, target)
        return target

    def expected(self, version: int, rows: list) -> list:
        """late_probability computed in-process by the same SavedModel (the reference answer)."""
        import tensorflow as tf
        from data import contract
        if version not in self._loaded:
            self._loaded[version] = tf.saved_model.load(self.contract[version])
        fn = self._loaded[version].signatures[contract.SERVING_SIGNATURE]
        inputs = {k: tf.constant([r[k] for r in rows], dtype=tf_dtype(k))
                  for k in contract.FEATURE_KEYS}
        return fn(**inputs)[contract.PREDICTION_KEY].numpy().tolist()


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    return ModelLibrary(str(tmp_path_factory.mktemp("model_library")))


@pytest.fixture
def start_server(tmp_path):
    """start_server(flags, models, local_flags=()) -> started ServerProcess; always stopped."""
    servers = []

    def start(flags, models, local_flags=(), rest=True):
        server = ServerProcess(str(tmp_path), flags, local_flags, rest)
        servers.append(server)
        return server.start(models)

    yield start
    for server in servers:
        server.stop()


def write_config(path: str, models: dict) -> str:
    """models: name -> (base_path, policy text or '', {label: version}[, logging_config() text])."""
    parts = ["model_config_list {"]
    for name, (base_path, policy, labels, *logging) in models.items():
        parts.append(f'  config {{ name: "{name}" base_path: "{base_path}" model_platform: "tensorflow"')
        if policy:
            parts.append(f"    model_version_policy {{ {policy} }}")
        for label, version in labels.items():
            parts.append(f'    version_labels {{ key: "{label}" value: {version} }}')
        parts += [f"    {text}" for text in logging if text]
        parts.append("  }")
    parts.append("}")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")
    return path


def logging_config(prefix: str, rate: float = 1.0, kind: str = "tfrecord") -> str:
    """A ModelConfig's logging_config (request logs: serving/server/request_log.py), as text."""
    return (f'logging_config {{ log_collector_config {{ type: "{kind}" filename_prefix: "{prefix}" }}'
            f" sampling_config {{ sampling_rate: {rate} }} }}")


def write_monitoring_config(root: str, path: str = "/monitoring/prometheus/metrics") -> str:
    """<root>/monitoring.config turning Prometheus on at `path`."""
    target = os.path.join(root, "monitoring.config")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(f'prometheus_config {{ enable: true path: "{path}" }}\n')
    return target


def logged(path: str, model: str = None) -> list:
    """The PredictionLogs under a request log directory/prefix/file (of `model`); [] when none yet."""
    from serving.server import request_log
    found = list(request_log.read_logs(path)) if request_log.log_files(path) else []
    return [r for r in found if model is None or r.log_metadata.model_spec.name == model]


def serve_flight_and_tf1(library, root: str, flags=(), local_flags=()):
    """A started server with the contract model v1 as "flight" and the TF1 model v7 as "tf1"."""
    library.push(library.contract[1], os.path.join(root, "flight"), 1)
    library.push(library.tf1, os.path.join(root, "tf1"), 7)
    config = write_config(os.path.join(root, "models.config"), {
        "flight": (os.path.join(root, "flight"), "", {}),
        "tf1": (os.path.join(root, "tf1"), "", {}),
    })
    server = ServerProcess(root, [f"--model_config_file={config}"] + list(flags), local_flags)
    return server.start(["flight", "tf1"])


@pytest.fixture
def served(library, tmp_path):
    """`serving serve` on a push directory holding versions 1 and 2 (latest: 2)."""
    push_dir = str(tmp_path / "serving_model" / MODEL_NAME)
    for version in (1, 2):
        library.push(library.contract[version], push_dir, version)
    grpc_port, rest_port = free_ports(2)
    server = Blocking(["serve", "--model-base-path", push_dir, "--port", str(grpc_port),
                       "--rest-api-port", str(rest_port)], rest_port, str(tmp_path / "serve.log"))
    server.push_dir, server.grpc = push_dir, f"127.0.0.1:{grpc_port}"
    yield server
    server.stop()

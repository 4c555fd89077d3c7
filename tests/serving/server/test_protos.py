"""Config files: the shipped deploy configs parse; a bad one names its file."""
import os

import pytest

from data.contract import MODEL_NAME
from data.paths import REPO_ROOT
from serving.server import protos

DEPLOY = os.path.join(REPO_ROOT, "serving", "deploy")


def test_deploy_configs_parse(tmp_path):
    config = protos.model_server_config(os.path.join(DEPLOY, "models.config"))
    model = config.model_config_list.config[0]
    assert model.name == MODEL_NAME and set(model.version_labels) == {"stable", "canary"}
    assert set(model.version_labels.values()) <= set(model.model_version_policy.specific.versions)
    assert protos.monitoring_config(os.path.join(DEPLOY, "monitoring.config")).prometheus_config.enable
    assert protos.batching_parameters(os.path.join(DEPLOY, "batching_parameters.txt")).max_batch_size.value == 64
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { nme: 'x' } }")
    with pytest.raises(ValueError, match="bad.config"):
        protos.model_server_config(str(bad))

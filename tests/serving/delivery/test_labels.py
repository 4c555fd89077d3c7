"""Version labels in a models.config: promote, rollback, set."""
import pytest

from serving.delivery import labels


def test_promote_rollback_edit_labels():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    config = text_format.Parse("""model_config_list { config { name: "f" base_path: "/nowhere"
        model_version_policy { specific { versions: 1 versions: 2 versions: 3 } }
        version_labels { key: "stable" value: 2 } version_labels { key: "canary" value: 3 } } }""",
                               model_server_config_pb2.ModelServerConfig())
    assert labels.promote(config, "f") == (2, 3)
    assert labels.rollback(config, "f") == (3, 2)
    assert labels.rollback(config, "f") == (2, 1)
    with pytest.raises(ValueError, match="no version older than stable=1"):
        labels.rollback(config, "f")
    labels.set_label(config, "f", "canary", 4)
    assert list(config.model_config_list.config[0].model_version_policy.specific.versions) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="'g' is not in the model config"):
        labels.promote(config, "g")

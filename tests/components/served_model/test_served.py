"""Which version a serving destination serves, and ServedModel's Model artifact of it."""
import os

import tensorflow as tf
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.served_model import ServedModel, has_model, served_version, versions

CONFIG = """model_config_list {
  config {
    name: "flight_delay"
    base_path: "/models/flight_delay"
    model_platform: "tensorflow"
    version_labels { key: "stable" value: %d }
    version_labels { key: "canary" value: %d }
  }
}
"""


def push(serving_dir, version, value):
    """A real SavedModel in TF Serving's layout, returning `value`."""
    module = tf.Module()
    module.value = tf.Variable(float(value))
    module.f = tf.function(lambda: module.value, input_signature=[])
    tf.saved_model.save(module, os.path.join(serving_dir, str(version)))


def run_served_model(tmp_path, serving_dir, model_config=""):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "served")
    ServedModel.EXECUTOR_SPEC.executor_class().Do(
        {}, {"model": [model]}, {"serving_model_dir": str(serving_dir), "model_config": model_config,
                                 "model_name": "flight_delay"})
    return model


def test_newest_push_unless_the_config_labels_another_stable(tmp_path):
    serving = tmp_path / "serving"
    assert versions(str(serving)) == [] and served_version(str(serving)) is None
    for version in (100, 300, 200):
        push(str(serving), version, version)
    (serving / "not-a-version").mkdir()
    (serving / "400").mkdir()  # no SavedModel: an unfinished copy, not a version
    assert versions(str(serving)) == [100, 200, 300]
    assert served_version(str(serving)) == 300
    config = tmp_path / "models.config"
    config.write_text(CONFIG % (200, 300))  # rolled back: stable is 200, 300 the canary
    assert served_version(str(serving), str(config), "flight_delay") == 200
    assert served_version(str(serving), str(config), "other_model") == 300
    config.write_text(CONFIG % (999, 300))  # a label naming no pushed version does not count
    assert served_version(str(serving), str(config), "flight_delay") == 300


def test_served_model_copies_the_served_version_as_a_model_artifact(tmp_path):
    serving = tmp_path / "serving"
    push(str(serving), 100, 1.5)
    push(str(serving), 200, 2.5)
    config = tmp_path / "models.config"
    config.write_text(CONFIG % (100, 200))
    model = run_served_model(tmp_path, serving, str(config))
    assert model.get_int_custom_property("served") == 1 and model.get_int_custom_property("served_version") == 100
    assert has_model(model)
    loaded = tf.saved_model.load(path_utils.serving_model_path(model.uri))
    assert float(loaded.f()) == 1.5


def test_nothing_served_gives_a_model_artifact_without_a_model(tmp_path):
    model = run_served_model(tmp_path, tmp_path / "never-pushed")
    assert model.get_int_custom_property("served") == 0 and not has_model(model)

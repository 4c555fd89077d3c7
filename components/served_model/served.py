"""Which version a TF Serving destination serves: the `stable` label of its model config, else the newest."""
import os
from typing import List, Optional

from tfx.dsl.io import fileio

STABLE_LABEL = "stable"


def versions(serving_model_dir: str) -> List[int]:
    """Numbered version folders holding a SavedModel (the Pusher's layout: <dir>/<version>/saved_model.pb)."""
    if not fileio.isdir(serving_model_dir):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(serving_model_dir))
    return sorted(int(n) for n in names
                  if n.isdigit() and fileio.exists(os.path.join(serving_model_dir, n, "saved_model.pb")))


def labelled_version(model_config_path: str, model_name: str, label: str = STABLE_LABEL) -> Optional[int]:
    """The version `label` names for `model_name` in a ModelServerConfig text file; None without one."""
    if not model_config_path or not fileio.exists(model_config_path):
        return None
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    config = model_server_config_pb2.ModelServerConfig()
    with fileio.open(model_config_path) as f:
        text_format.Parse(f.read(), config)
    for model in config.model_config_list.config:
        if model.name == model_name and label in model.version_labels:
            return int(model.version_labels[label])
    return None


def served_version(serving_model_dir: str, model_config_path: str = "", model_name: str = "") -> Optional[int]:
    """The version serving: the model config's `stable` label when it names a pushed version, else the
    newest pushed version; None when nothing was pushed."""
    pushed = versions(serving_model_dir)
    stable = labelled_version(model_config_path, model_name)
    if stable in pushed:
        return stable
    return pushed[-1] if pushed else None

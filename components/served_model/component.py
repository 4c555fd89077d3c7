"""ServedModel: the model a serving destination serves, as a Model artifact (a baseline for orchestrators
whose resolvers cannot read the registry, e.g. Vertex Pipelines)."""
import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils

from components.served_model.served import served_version

SERVED_KEY = "served"                  # Model custom property: 1 when a model is served, else 0
SERVED_VERSION_KEY = "served_version"  # the version folder it was copied from


def has_model(model: standard_artifacts.Model) -> bool:
    """Whether a Model artifact holds a SavedModel (a ServedModel output holds none when nothing served)."""
    return fileio.exists(path_utils.serving_model_path(model.uri))


@component
def ServedModel(serving_model_dir: Parameter[str], model: OutputArtifact[standard_artifacts.Model],
                model_config: Parameter[str] = "", model_name: Parameter[str] = ""):
    """Copies the served SavedModel (`served_version`) into `model` (Format-Serving, as a Trainer writes it);
    when nothing is served the artifact holds no model and `served` = 0."""
    version = served_version(serving_model_dir, model_config, model_name)
    model.set_int_custom_property(SERVED_KEY, int(version is not None))
    if version is not None:
        io_utils.copy_dir(os.path.join(serving_model_dir, str(version)), path_utils.serving_model_path(model.uri))
        model.set_int_custom_property(SERVED_VERSION_KEY, version)

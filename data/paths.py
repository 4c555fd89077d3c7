"""Where things are: the repository, the committed spans and schema, and one output directory's layout.

The one home of these paths: `pipeline` (runs), `serving` (the push directory, the registry's store) and
the tests import them from here. Output paths are relative to the working directory (`outputs/` by
default), as `make run` and `make serve` both run from the repository root.
"""
import dataclasses
import os

from data.contract import MODEL_NAME

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPANS_DIR = os.path.join(REPO_ROOT, "data", "spans")
SCHEMA_PATH = os.path.join(REPO_ROOT, "data", "schema", "schema.pbtxt")
OUTPUT_DIR = "outputs"


@dataclasses.dataclass
class OutputLayout:
    """Where one output directory keeps the pipeline root, the metadata store, pushed models and logs."""
    root: str = OUTPUT_DIR

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.root, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, "metadata.sqlite")

    @property
    def serving_model_dir(self) -> str:
        return os.path.join(self.root, "serving_model", MODEL_NAME)

    def log_path(self, run_id: str) -> str:
        return os.path.join(self.root, "logs", f"{run_id.replace(':', '-')}.log")

"""What a logged model version was built from, read from ML-Metadata through the lineage library
(`query.trace` of its push): the Model, the newest training span's Examples and their statistics, and the
Evaluator's validation figures."""
import dataclasses
import os
from typing import Any, Dict, List

from pipeline.lineage import query
from pipeline.mlmd import records as R
from serving.delivery import registry

TRAIN_SPLIT = "train"   # the split the drift gate compares (and the one the model learned from)
EVAL_SPLIT = "eval"     # the split the Evaluator validated the model on


class LineageError(LookupError):
    """The store cannot say what the logged version was trained on; one line naming it."""


@dataclasses.dataclass
class ServedModel:
    version: int
    pushed: Any                 # PushedModel artifact (MLMD proto)
    model: Any                  # Model artifact
    model_dir: str              # the SavedModel that answered (the push destination, else the Model's)
    training_spans: List[int]
    span: int                   # the newest training span
    examples: Any               # its Examples artifact (the one the Trainer read)
    statistics: Any             # StatisticsGen's statistics of those Examples
    validation: Dict[str, float]  # the Evaluator's overall metrics (TFMA, eval split of `span`)
    runs: List[str]
    schema_uri: str             # the curated schema the pipeline validated with (ImportSchemaGen)


def served_model(store, version: int) -> ServedModel:
    """The lineage of pushed version `version`; LineageError when it is not in the store."""
    pushes = registry.pushed_versions(store)
    if version not in pushes:
        raise LineageError(f"model version {version} was never pushed according to "
                           f"{store.where} (pushed versions: {sorted(pushes) or 'none'})")
    pushed = pushes[version]
    t = query.trace(store, pushed.id, read_files=True)
    if not t["model"]:
        raise LineageError(f"no Model behind pushed version {version} (PushedModel #{pushed.id})")
    model = store.get_artifacts_by_id([t["model"]["id"]])[0]
    spans = t["training_spans"]
    if not spans:
        raise LineageError(f"the Trainer of version {version} (Model #{model.id}) read no Examples with a span")
    span = max(spans)
    trained = [e for e in t["examples"] if e["span"] == span and "Trainer" in e["used_by"]] or \
              [e for e in t["examples"] if e["span"] == span]
    examples_id = max(e["id"] for e in trained)
    statistics = [s for s in t["statistics"] if examples_id in s.get("examples", [])]
    if not statistics:
        raise LineageError(f"no StatisticsGen statistics of Examples #{examples_id} (span {span}) in the store")
    destination = R.prop(pushed, "pushed_destination")
    model_dir = destination if destination and os.path.isdir(destination) else os.path.join(model.uri,
                                                                                           "Format-Serving")
    validation = {k: v for k, v in t["metrics"].items() if isinstance(v, (int, float))}
    ids = [examples_id, max(s["id"] for s in statistics)]
    examples, stats = store.get_artifacts_by_id(ids)
    if not t["schema"]:
        raise LineageError(f"no Schema upstream of version {version} (Model #{model.id}) in the store")
    return ServedModel(version=version, pushed=pushed, model=model, model_dir=model_dir, training_spans=spans,
                       span=span, examples=examples, statistics=stats, validation=validation, runs=t["runs"],
                       schema_uri=t["schema"][-1]["uri"])


"""TFX's Evaluator, where a baseline Model without a SavedModel (ServedModel's, when nothing is served
yet) counts as no baseline: the change thresholds are then skipped, as with an empty baseline channel."""
from typing import Any, Dict, List

from tfx import types
from tfx.components import Evaluator as TfxEvaluator
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from components.served_model.component import has_model


class Executor(evaluator_executor.Executor):
    """Drops a baseline Model that holds no model, then evaluates as TFX does."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        key = standard_component_specs.BASELINE_MODEL_KEY
        if input_dict.get(key):
            input_dict = {**input_dict, key: [m for m in input_dict[key] if has_model(m)]}
        super().Do(input_dict, output_dict, exec_properties)


class Evaluator(TfxEvaluator):
    """TFX's Evaluator (same parameters and outputs) accepting ServedModel's output as its baseline."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

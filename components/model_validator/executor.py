"""ModelBehaviorValidator executor: reads the artifacts, runs behavior.validate_model on Beam,
writes the report and the blessing."""
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from components.model_validator import behavior
from components.model_validator import constants as c
from components.model_validator import report
from components.model_validator.config import ValidatorConfig


def _model_path(model: types.Artifact) -> str:
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))


class Executor(base_beam_executor.BaseBeamExecutor):
    """Checks model behaviour on the eval split; blesses the model when no check fails."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = ValidatorConfig.from_json(exec_properties.get(c.CONFIG_KEY))

        model = artifact_utils.get_single_instance(input_dict[c.MODEL_KEY])
        model_path = _model_path(model)
        baseline = input_dict.get(c.BASELINE_MODEL_KEY) or []
        if len(baseline) > 1:
            raise ValueError(f"{c.BASELINE_MODEL_KEY}: expected at most one Model, got {len(baseline)}")
        baseline_path = _model_path(baseline[0]) if baseline else None

        examples = artifact_utils.get_single_instance(input_dict[c.EXAMPLES_KEY])
        payload = examples_utils.get_payload_format(examples)
        if payload != example_gen_pb2.FORMAT_TF_EXAMPLE:
            raise ValueError(f"examples {examples.uri}: payload format "
                             f"{example_gen_pb2.PayloadFormat.Name(payload)} is not FORMAT_TF_EXAMPLE")
        splits = artifact_utils.decode_split_names(examples.split_names)
        if c.EVAL_SPLIT not in splits:
            raise ValueError(f"examples {examples.uri}: no {c.EVAL_SPLIT!r} split (splits: {splits})")
        file_pattern = io_utils.all_files_pattern(
            artifact_utils.get_split_uri([examples], c.EVAL_SPLIT))

        schema_uri = artifact_utils.get_single_uri(input_dict[c.SCHEMA_KEY])
        schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))
        schema_features = behavior.serving_features_from_schema(schema)

        report_artifact = artifact_utils.get_single_instance(output_dict[c.REPORT_KEY])
        result = behavior.validate_model(
            model_path, file_pattern, schema_features, work_dir=report_artifact.uri, config=config,
            baseline_model_path=baseline_path, make_pipeline=self._make_beam_pipeline)
        for upstream in input_dict.get(c.MODEL_BLESSING_KEY) or []:
            result = behavior.require_upstream_blessing(
                result, upstream.uri, upstream.get_int_custom_property(c.ARTIFACT_PROPERTY_BLESSED_KEY) == 1)
        report.write_report(result, report_artifact.uri)

        failed = ",".join(result.failed_checks)
        blessed_value = c.BLESSED_VALUE if result.blessed else c.NOT_BLESSED_VALUE
        report_artifact.set_int_custom_property(c.ARTIFACT_PROPERTY_BLESSED_KEY, blessed_value)
        report_artifact.set_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY, failed)

        blessing = artifact_utils.get_single_instance(output_dict[c.BLESSING_KEY])
        marker = c.BLESSED_FILE_NAME if result.blessed else c.NOT_BLESSED_FILE_NAME
        io_utils.write_string_file(os.path.join(blessing.uri, marker), "")
        blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_BLESSED_KEY, blessed_value)
        blessing.set_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY, failed)
        blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_NUM_FAILED_KEY,
                                         len(result.failed_checks))
        blessing.set_string_custom_property(c.ARTIFACT_PROPERTY_VALIDATED_MODEL_URI_KEY, model.uri)
        blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_VALIDATED_MODEL_ID_KEY, model.id)
        if baseline:
            blessing.set_string_custom_property(c.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
                                                baseline[0].uri)
        logging.info("Model %s %s by behaviour validation (failed checks: %s); report in %s",
                     model.uri, marker, failed or "none", report_artifact.uri)

"""BehaviorValidator executor: reads the artifacts, runs validate.validate_model on Beam, writes the
report and the blessing."""
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from components.behavior_validator import constants as c
from components.behavior_validator import report
from components.behavior_validator import results
from components.behavior_validator import scoring
from components.behavior_validator import validate
from components.behavior_validator.config import BehaviorValidatorConfig


def _model_path(model: types.Artifact) -> str:
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))


def _eval_file_pattern(examples: types.Artifact) -> str:
    payload = examples_utils.get_payload_format(examples)
    if payload != example_gen_pb2.FORMAT_TF_EXAMPLE:
        raise ValueError(f"examples {examples.uri}: payload format "
                         f"{example_gen_pb2.PayloadFormat.Name(payload)} is not FORMAT_TF_EXAMPLE")
    splits = artifact_utils.decode_split_names(examples.split_names)
    if c.EVAL_SPLIT not in splits:
        raise ValueError(f"examples {examples.uri}: no {c.EVAL_SPLIT!r} split (splits: {splits})")
    return io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], c.EVAL_SPLIT))


def _flag(value: bool) -> int:
    return c.BLESSED_VALUE if value else c.NOT_BLESSED_VALUE


class Executor(base_beam_executor.BaseBeamExecutor):
    """Checks model behaviour on the eval splits of the examples (pooled); blesses the model when no check fails and the
    upstream blessing (if given) is blessed."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = BehaviorValidatorConfig.from_json(exec_properties.get(c.CONFIG_KEY))

        model = artifact_utils.get_single_instance(input_dict[c.MODEL_KEY])
        # A baseline Model without a SavedModel (e.g. ServedModel's when nothing is served yet) is none.
        baseline = [m for m in input_dict.get(c.BASELINE_MODEL_KEY) or [] if fileio.exists(_model_path(m))]
        if len(baseline) > 1:
            raise ValueError(f"{c.BASELINE_MODEL_KEY}: expected at most one Model, got {len(baseline)}")
        examples = input_dict[c.EXAMPLES_KEY]
        if not examples:
            raise ValueError(f"{c.EXAMPLES_KEY}: expected at least one Examples artifact, got none")
        schema_uri = artifact_utils.get_single_uri(input_dict[c.SCHEMA_KEY])
        schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))

        report_artifact = artifact_utils.get_single_instance(output_dict[c.REPORT_KEY])
        result = validate.validate_model(
            _model_path(model), [_eval_file_pattern(e) for e in examples],
            scoring.serving_features_from_schema(schema, config.label_key),
            work_dir=report_artifact.uri, config=config,
            baseline_model_path=_model_path(baseline[0]) if baseline else None,
            make_pipeline=self._make_beam_pipeline)
        upstream = {b.uri: b.get_int_custom_property(c.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
                    for b in input_dict.get(c.MODEL_BLESSING_KEY) or []}
        for uri, upstream_blessed in upstream.items():
            result = results.require_upstream_blessing(result, uri, upstream_blessed)
        report.write_report(result, report_artifact.uri)

        failed_behavior = [n for n in result.failed_checks if n != c.CHECK_UPSTREAM_BLESSING]
        report_artifact.set_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY,
                                                _flag(result.behavior_checks_passed))
        report_artifact.set_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY,
                                                   ",".join(failed_behavior))

        blessing = artifact_utils.get_single_instance(output_dict[c.BLESSING_KEY])
        marker = c.BLESSED_FILE_NAME if result.blessed else c.NOT_BLESSED_FILE_NAME
        io_utils.write_string_file(os.path.join(blessing.uri, marker), "")
        blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_BLESSED_KEY, _flag(result.blessed))
        blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY,
                                         _flag(result.behavior_checks_passed))
        if upstream:
            blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_UPSTREAM_BLESSED_KEY,
                                             _flag(all(upstream.values())))
        blessing.set_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY,
                                            ",".join(result.failed_checks))
        blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_NUM_FAILED_KEY, len(result.failed_checks))
        blessing.set_string_custom_property(c.ARTIFACT_PROPERTY_VALIDATED_MODEL_URI_KEY, model.uri)
        blessing.set_int_custom_property(c.ARTIFACT_PROPERTY_VALIDATED_MODEL_ID_KEY, model.id)
        if baseline:
            blessing.set_string_custom_property(c.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
                                                baseline[0].uri)
        logging.info("Model %s %s (behaviour checks %s; failed: %s); report in %s", model.uri, marker,
                     "passed" if result.behavior_checks_passed else "FAILED",
                     ",".join(result.failed_checks) or "none", report_artifact.uri)

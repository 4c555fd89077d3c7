"""ModelBehaviorValidator: a Beam-powered TFX component checking what aggregate metrics miss."""
from typing import Any, Mapping, Optional, Union

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from components.model_validator import constants as c
from components.model_validator import executor
from components.model_validator.artifacts import ModelValidationReport
from components.model_validator.config import ValidatorConfig


class ModelBehaviorValidatorSpec(ComponentSpec):
    """Inputs, outputs and parameters of ModelBehaviorValidator."""
    PARAMETERS = {c.CONFIG_KEY: ExecutionParameter(type=str, optional=True)}
    INPUTS = {
        c.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        c.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        c.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        c.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
        c.MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {
        c.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        c.REPORT_KEY: ChannelParameter(type=ModelValidationReport),
    }


class ModelBehaviorValidator(base_beam_component.BaseBeamComponent):
    """Blesses a model when invariance, directional, per-slice, signature, latency and size checks
    pass on the 'eval' split.

        validator = ModelBehaviorValidator(
            model=trainer.outputs['model'], examples=example_gen.outputs['examples'],
            schema=schema_importer.outputs['result'],
            baseline_model=latest_blessed.outputs['model'],  # optional
            config={'min_slice_recall': 0.2})

    `model_blessing` (optional, e.g. Evaluator's blessing) is required too: the blessing is given only
    when it is blessed as well, so Pusher can take this one blessing without nesting Conds.
    Outputs: `blessing` (ModelBlessing, custom property `blessed` 1/0, BLESSED / NOT_BLESSED file)
    and `report` (ModelValidationReport: report.json, report.html).
    """

    SPEC_CLASS = ModelBehaviorValidatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel,
                 schema: types.BaseChannel, baseline_model: Optional[types.BaseChannel] = None,
                 model_blessing: Optional[types.BaseChannel] = None,
                 config: Optional[Union[Mapping[str, Any], str, ValidatorConfig]] = None):
        """config: a ValidatorConfig, a dict or a JSON string; missing keys take the defaults. The
        full effective config is stored as the `config_json` execution property."""
        if isinstance(config, str):
            config = ValidatorConfig.from_json(config)
        elif not isinstance(config, ValidatorConfig):
            config = ValidatorConfig.from_dict(config)
        spec = ModelBehaviorValidatorSpec(
            model=model, examples=examples, schema=schema, baseline_model=baseline_model,
            model_blessing=model_blessing, config_json=config.to_json(),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            report=types.Channel(type=ModelValidationReport))
        super().__init__(spec=spec)

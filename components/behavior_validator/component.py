"""BehaviorValidator: a Beam-powered TFX component checking what aggregate metrics miss."""
from typing import Any, Mapping, Optional, Union

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from components.behavior_validator import constants as c
from components.behavior_validator import executor
from components.behavior_validator.artifacts import BehaviorValidationReport
from components.behavior_validator.config import BehaviorValidatorConfig


class BehaviorValidatorSpec(ComponentSpec):
    """Inputs, outputs and parameters of BehaviorValidator."""
    PARAMETERS = {c.CONFIG_KEY: ExecutionParameter(type=str)}
    INPUTS = {
        c.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        c.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        c.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        c.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
        c.MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {
        c.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        c.REPORT_KEY: ChannelParameter(type=BehaviorValidationReport),
    }


class BehaviorValidator(base_beam_component.BaseBeamComponent):
    """Checks invariance, directional expectations, per-slice recall (and its regression versus a
    baseline), the AUC versus the baseline, the serving signature, latency and size on the 'eval'
    split of every `examples` artifact (pooled: e.g. the newest Examples of each of the last spans).

        validator = BehaviorValidator(
            model=trainer.outputs['model'], examples=example_gen.outputs['examples'],
            schema=schema_importer.outputs['result'],
            baseline_model=latest_blessed.outputs['model'],  # optional
            model_blessing=evaluator.outputs['blessing'],    # optional
            config={'label_key': ..., 'prediction_key': ..., ...})

    Outputs:
      blessing (ModelBlessing): `blessed` = 1 when the behaviour checks passed AND `model_blessing`
        (when given) is blessed, so Pusher can take this one blessing; `behavior_checks_passed` = this
        validator's own verdict; BLESSED / NOT_BLESSED file.
      report (BehaviorValidationReport): report.json, report.html; `behavior_checks_passed`.
    """

    SPEC_CLASS = BehaviorValidatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel,
                 schema: types.BaseChannel,
                 config: Union[Mapping[str, Any], str, BehaviorValidatorConfig],
                 baseline_model: Optional[types.BaseChannel] = None,
                 model_blessing: Optional[types.BaseChannel] = None):
        """config: a BehaviorValidatorConfig, a dict or a JSON string (the contract keys are required;
        missing thresholds take the defaults). The full effective config is stored as the
        `config_json` execution property."""
        if isinstance(config, str):
            config = BehaviorValidatorConfig.from_json(config)
        elif not isinstance(config, BehaviorValidatorConfig):
            config = BehaviorValidatorConfig.from_dict(config)
        spec = BehaviorValidatorSpec(
            model=model, examples=examples, schema=schema, baseline_model=baseline_model,
            model_blessing=model_blessing, config_json=config.to_json(),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            report=types.Channel(type=BehaviorValidationReport))
        super().__init__(spec=spec)

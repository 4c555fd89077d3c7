"""`validate_model`: every behaviour check of one exported model over an eval split (Beam + TF, no TFX).

The data checks (checks.py) are decided on figures one Beam pipeline aggregates (scoring.py,
aggregation.py); the serving signature, latency and size checks (serving_checks.py) run in the calling
process.
"""
import os
from typing import Callable, Mapping, Optional, Sequence, Union

import apache_beam as beam
import tensorflow as tf

from components.behavior_validator import aggregation
from components.behavior_validator import checks
from components.behavior_validator import constants as c
from components.behavior_validator import scoring
from components.behavior_validator import serving_checks
from components.behavior_validator.config import BehaviorValidatorConfig
from components.behavior_validator.results import CheckResult, ValidationResult

_DATA_CHECKS = (c.CHECK_OUTPUT_RANGE, c.CHECK_INVARIANCE, c.CHECK_DIRECTIONAL,
                c.CHECK_SLICE_RECALL, c.CHECK_SLICE_REGRESSION, c.CHECK_AUC_REGRESSION)


def _require_saved_model(path: str, what: str) -> None:
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"no {what} at {path} (saved_model.pb missing)")


def validate_model(
    model_path: str, file_patterns: Union[str, Sequence[str]], schema_features: Mapping[str, str], work_dir: str,
    config: BehaviorValidatorConfig, baseline_model_path: Optional[str] = None,
    make_pipeline: Callable[[], beam.Pipeline] = beam.Pipeline) -> ValidationResult:
    """Runs every check; `behavior_checks_passed` when none FAILs (SKIPPED does not block).

    Args:
      model_path: SavedModel directory of the candidate.
      file_patterns: glob(s) of the gzipped TFRecord files of tf.Example of the eval split(s), pooled.
      schema_features: serving feature name -> dtype name (scoring.serving_features_from_schema).
      work_dir: directory for the Beam output (behavior_metrics.json).
      config: the model's contract and the thresholds.
      baseline_model_path: SavedModel directory of the baseline, if any.
      make_pipeline: returns a beam.Pipeline (e.g. with the component's beam_pipeline_args).
    """
    cfg = config
    cfg.validate_against_schema(schema_features)
    _require_saved_model(model_path, "SavedModel")
    if baseline_model_path:
        _require_saved_model(baseline_model_path, "baseline SavedModel")
    model = scoring.load_saved_model(model_path, cfg)
    sample = scoring.read_sample(file_patterns, cfg.signature_sample_size)
    results = [serving_checks.check_serving_signature(model, schema_features, sample, cfg)]
    try:
        # Scoring needs the examples signature: try it on the sample before starting the pipeline.
        _, fn = scoring.load_examples_fn(model_path, cfg)
        scoring.predict(fn, sample[:2], model_path, cfg)
    except Exception as e:  # pylint: disable=broad-except  # reported as failed checks
        reason = f"not run: {cfg.examples_signature} unusable: {type(e).__name__}: {str(e)[:300]}"
        results += [CheckResult(name, c.FAIL, reason) for name in _DATA_CHECKS]
    else:
        m = aggregation.compute_behavior_metrics(model_path, file_patterns, work_dir, cfg, schema_features,
                                                 baseline_model_path, make_pipeline)
        has_baseline = baseline_model_path is not None
        tests = checks.statistical_tests(m, cfg, has_baseline)
        results += [checks.check_output_range(m), checks.check_invariance(m, cfg),
                    checks.check_directional(m, cfg, tests), checks.check_slice_recall(m, cfg, tests),
                    checks.check_slice_regression(m, cfg, tests, has_baseline),
                    checks.check_auc_regression(m, cfg, tests, has_baseline)]
    results += [serving_checks.check_latency(model, schema_features, sample[0] if sample else None, cfg),
                serving_checks.check_size(model_path, cfg)]
    return ValidationResult(results, model_path, baseline_model_path, cfg)

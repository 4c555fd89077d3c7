"""Names shared by the behaviour validator's logic, executor and component (no project facts)."""

# Component spec keys (like tfx/components/example_validator: spec keys as constants).
MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
SCHEMA_KEY = "schema"
BASELINE_MODEL_KEY = "baseline_model"
# Optional: another validator's blessing (e.g. Evaluator's) that the output blessing requires too.
MODEL_BLESSING_KEY = "model_blessing"
BLESSING_KEY = "blessing"
REPORT_KEY = "report"
CONFIG_KEY = "config_json"

EVAL_SPLIT = "eval"

# Output blessing: `blessed` is the property Pusher and Cond read (same as TFX's Evaluator) and means
# "behaviour checks passed AND the upstream blessing (if given) is blessed".
ARTIFACT_PROPERTY_BLESSED_KEY = "blessed"
# This validator's own verdict: every behaviour check passed (the upstream blessing left out).
ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY = "behavior_checks_passed"
# The upstream blessing's `blessed` (set only when one was given).
ARTIFACT_PROPERTY_UPSTREAM_BLESSED_KEY = "upstream_blessed"
BLESSED_VALUE = 1
NOT_BLESSED_VALUE = 0
BLESSED_FILE_NAME = "BLESSED"
NOT_BLESSED_FILE_NAME = "NOT_BLESSED"
# Deliberately NOT Evaluator's `current_model_id`: LatestBlessedModelStrategy reads that key from every
# ModelBlessing in the pipeline, so reusing it would let this validator alone "bless" a baseline.
ARTIFACT_PROPERTY_VALIDATED_MODEL_URI_KEY = "validated_model"
ARTIFACT_PROPERTY_VALIDATED_MODEL_ID_KEY = "validated_model_id"
ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY = "baseline_model"
ARTIFACT_PROPERTY_FAILED_CHECKS_KEY = "failed_checks"
ARTIFACT_PROPERTY_NUM_FAILED_KEY = "num_failed_checks"

# Report artifact files.
REPORT_JSON_FILE_NAME = "report.json"
REPORT_HTML_FILE_NAME = "report.html"
METRICS_FILE_NAME = "behavior_metrics.json"  # raw aggregates of the Beam pipeline

# Check names (also the keys of report.json "checks").
CHECK_SIGNATURE = "serving_signature"
CHECK_OUTPUT_RANGE = "output_range"
CHECK_INVARIANCE = "invariance"
CHECK_DIRECTIONAL = "directional"
CHECK_SLICE_RECALL = "slice_min_recall"
CHECK_SLICE_REGRESSION = "slice_regression_vs_baseline"
CHECK_AUC_REGRESSION = "auc_vs_baseline"
CHECK_LATENCY = "latency"
CHECK_SIZE = "model_size"
CHECK_NAMES = (
    CHECK_SIGNATURE, CHECK_OUTPUT_RANGE, CHECK_INVARIANCE, CHECK_DIRECTIONAL,
    CHECK_SLICE_RECALL, CHECK_SLICE_REGRESSION, CHECK_AUC_REGRESSION, CHECK_LATENCY, CHECK_SIZE,
)
# Not a behaviour check: the upstream blessing's verdict, recorded next to them.
CHECK_UPSTREAM_BLESSING = "upstream_blessing"

# Per-group score histograms of the AUC test (aggregation.ScoreHistogramCombineFn), in this order.
SCORE_HISTOGRAMS = ("candidate_positives", "candidate_negatives", "baseline_positives", "baseline_negatives")

PASS = "PASS"
FAIL = "FAIL"
SKIPPED = "SKIPPED"

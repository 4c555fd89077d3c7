"""Constants and generic parameter defaults of the drift validator (pure Python, no TFX import).

No project facts here: which features to compare, their thresholds and the label key are parameters.
"""

# Bump on every change of the validator's logic or report format. The @component body is not part
# of TFX's cache key; this value is passed as the `component_version` execution property, which is.
COMPONENT_VERSION = "3"

# Output key of the report artifact and of the returned verdict.
DRIFT_REPORT_KEY = "drift_report"
BLESSED_KEY = "blessed"

# Files written into the report artifact's uri.
REPORT_JSON = "drift_report.json"
REPORT_HTML = "drift_report.html"

# Verdicts.
NO_BASELINE = "NO_BASELINE"
PASS = "PASS"
WARN = "WARN"
BLOCKED = "BLOCKED"

# Statistics split compared by default.
DEFAULT_SPLIT = "train"

# No label check unless a label key is given ("" disables it).
DEFAULT_LABEL_KEY = ""
# Largest allowed absolute change of the label mean; 1.0 (a 0/1 mean cannot move further) never blocks.
DEFAULT_LABEL_SHIFT_THRESHOLD = 1.0

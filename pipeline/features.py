"""Column contract of the flight-delay dataset, shared by data prep, model, validators and serving.

The curated schema (data/schema/schema.pbtxt) is the source of truth for domains and ranges; this
module only names the columns and their TF dtypes so code can be written without reading files.
"""

LABEL_KEY = "late"

# Categorical string features; vocabularies come from the curated schema's string domains.
CATEGORICAL_FEATURES = ("carrier", "origin", "dest")

# Integer calendar/schedule features (known when the flight is scheduled).
INT_FEATURES = (
    "month",            # 1..12
    "day",              # 1..31
    "day_of_week",      # 0=Monday .. 6=Sunday
    "sched_dep_hour",   # 0..23 local time
    "sched_dep_minute", # 0..59 (must not matter to the model)
    "sched_arr_hour",   # 0..23
    "flight",           # flight number (must not matter to the model)
    "distance",         # miles
)

# Origin weather at the scheduled departure hour (float, may be missing).
WEATHER_FEATURES = (
    "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
)

FEATURE_KEYS = CATEGORICAL_FEATURES + INT_FEATURES + WEATHER_FEATURES
# CSV column order of every span file.
CSV_COLUMNS = (
    "month", "day", "day_of_week", "sched_dep_hour", "sched_dep_minute", "sched_arr_hour",
    "carrier", "flight", "origin", "dest", "distance",
) + WEATHER_FEATURES + (LABEL_KEY,)

# Features the model accepts but must not depend on (the behaviour validator checks invariance).
INVARIANT_FEATURES = ("flight", "sched_dep_minute")

# Serving contract of the exported SavedModel.
SERVING_SIGNATURE = "serving_default"       # raw feature tensors, each shape [None]
EXAMPLES_SIGNATURE = "serving_tf_example"   # input "examples": serialized tf.Example, shape [None]
EXAMPLES_INPUT = "examples"
PREDICTION_KEY = "late_probability"         # float32, shape [None], in [0, 1]
DECISION_THRESHOLD = 0.5


def tf_dtype_name(feature: str) -> str:
    """'string', 'int64' or 'float32' for a feature or the label."""
    if feature in CATEGORICAL_FEATURES:
        return "string"
    if feature in INT_FEATURES or feature == LABEL_KEY:
        return "int64"
    if feature in WEATHER_FEATURES:
        return "float32"
    raise KeyError(f"unknown feature {feature!r}")

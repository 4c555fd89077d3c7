"""Column contract of the flight-delay dataset: the one home of names, dtypes, label, signatures and model name.

A leaf module: it imports nothing from this project, so data prep, model, validators configuration and
serving can all import it.

The curated schema (data/schema/schema.pbtxt) is the source of truth for domains and ranges; this
module only names the columns and their TF dtypes so code can be written without reading files.
"""

LABEL_KEY = "late"

# Categorical string features; vocabularies come from the curated schema's string domains.
CATEGORICAL_FEATURES = ("carrier", "origin", "dest")

# Integer calendar/schedule features (known from the schedule).
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

# The prediction moment: a prediction is made this long before the scheduled departure (when passengers
# can still be rebooked and crews re-planned). Every feature below is known then: the schedule, the
# weather (the origin's observation for the scheduled hour stands for the forecast made at the moment),
# and what the airport's departure board shows at that moment.
PREDICTION_LEAD_MINUTES = 120

# Operations known at the prediction moment (floats: a request may leave them out when the feed is down,
# and the model imputes them). Counts and rates are over NYC departures in this dataset.
OPERATIONS_FEATURES = (
    "origin_hour_departures",         # flights scheduled to leave this origin in this hour of this day
    "dest_hour_arrivals",             # flights from NYC scheduled to reach this destination in this hour
    "origin_departed_so_far",         # flights that left this origin today before the prediction moment
    "origin_waiting_now",             # flights scheduled to leave this origin before the moment, not yet gone
    "origin_mean_dep_delay_so_far",   # their mean departure delay, minutes (empty when none left yet)
    "origin_late_dep_share_so_far",   # share of them that left > 15 min late (empty when none left yet)
    "carrier_departed_so_far",        # the same for this carrier at the three NYC airports
    "carrier_waiting_now",
    "carrier_mean_dep_delay_so_far",
    "carrier_late_dep_share_so_far",
    "origin_late_rate_yesterday",     # share of yesterday's flights from this origin that were late
    "carrier_late_rate_yesterday",    # (labels of a day are known the next morning; empty on Jan 1)
)
# Float features that may be missing (empty CSV cell, feature left out of a request).
FLOAT_FEATURES = WEATHER_FEATURES + OPERATIONS_FEATURES

FEATURE_KEYS = CATEGORICAL_FEATURES + INT_FEATURES + FLOAT_FEATURES
# CSV column order of every span file.
CSV_COLUMNS = (
    "month", "day", "day_of_week", "sched_dep_hour", "sched_dep_minute", "sched_arr_hour",
    "carrier", "flight", "origin", "dest", "distance",
) + FLOAT_FEATURES + (LABEL_KEY,)

# Columns that identify one flight (unique over 2013; all are model inputs, so a logged request carries
# them): the key that joins labels arriving later to logged requests.
NATURAL_KEY = ("month", "day", "carrier", "flight", "origin", "sched_dep_hour", "sched_dep_minute")

# Features the model accepts but must not depend on (the behaviour validator checks invariance).
INVARIANT_FEATURES = ("flight", "sched_dep_minute")

# Serving contract of the exported SavedModel.
SERVING_SIGNATURE = "serving_default"       # raw feature tensors, each shape [None]
EXAMPLES_SIGNATURE = "serving_tf_example"   # input "examples": serialized tf.Example, shape [None]
EXAMPLES_INPUT = "examples"
PREDICTION_KEY = "late_probability"         # float32, shape [None], in [0, 1]
DECISION_THRESHOLD = 0.5
# Name of the model in TF Serving (model_config_list, REST/gRPC model_spec.name).
MODEL_NAME = "flight_delay"


def tf_dtype_name(feature: str) -> str:
    """'string', 'int64' or 'float32' for a feature or the label."""
    if feature in CATEGORICAL_FEATURES:
        return "string"
    if feature in INT_FEATURES or feature == LABEL_KEY:
        return "int64"
    if feature in FLOAT_FEATURES:
        return "float32"
    raise KeyError(f"unknown feature {feature!r}")


def natural_key(row) -> tuple:
    """The NATURAL_KEY values of a row {column: value}, typed (str for strings, int otherwise)."""
    return tuple(str(row[k]) if tf_dtype_name(k) == "string" else int(row[k]) for k in NATURAL_KEY)


def tf_dtype(feature: str):
    """The tf.DType of a feature or the label (tf.string, tf.int64 or tf.float32)."""
    import tensorflow as tf  # lazy, as in example_from_row
    return {"string": tf.string, "int64": tf.int64, "float32": tf.float32}[tf_dtype_name(feature)]


def example_from_row(row, with_label: bool = False):
    """A row {feature: value} as a tf.train.Example (a float feature that is NaN, None or absent is left out).

    The one row -> tf.Example conversion of the project (serving client, benchmarks, tests).
    """
    import tensorflow as tf  # lazy: the contract itself stays importable without TensorFlow
    keys = FEATURE_KEYS + ((LABEL_KEY,) if with_label else ())
    feats = {}
    for k in keys:
        kind, value = tf_dtype_name(k), (row.get(k) if k in FLOAT_FEATURES else row[k])
        if kind == "string":
            feats[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
        elif kind == "int64":
            feats[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        elif value is not None and value == value:
            feats[k] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feats))

"""Every knob of the flight-delay pipeline, in one place (TFX taxi template style).

`create_pipeline` passes these to the generic components under components/, which know nothing about
flights. Column names, signatures and the model name come from the leaf contract, data/contract.py.
"""
from data import contract
from serving.server import command as local_server
from serving.server import custom_ops

PIPELINE_NAME = "flight-delay"
MODEL_NAME = contract.MODEL_NAME

# ---- ExampleGen ------------------------------------------------------------------------------------
# Train/eval split in time (components/ordered_split): a span's days in order, the first ones for train,
# the last ones for eval, each split holding its share of the flights (whole days: no day on both sides).
# On the 2013 spans eval = the last 7-8 days, 24-27% of the flights: the model is judged on days after
# those it trained on, and the eval days change every month.
SPLIT_PARTITION_FEATURE = "day"
SPLIT_SHARES = (("train", 3), ("eval", 1))  # (split, relative share of the flights), in time order

# ---- Training window: the production policy -------------------------------------------------------
# Default training window of `python -m pipeline run` and `ct`: K spans or "all" (chosen on the 2013 replay,
# README). A local run ingests the window's spans the metadata store lacks.
TRAINING_WINDOW = "all"

# ---- Trainer (pipeline/model) -------------------------------------------------------------------
# Model family (pipeline/model/families.py): "keras" (trainer.py) or "gbt" (TF-DF gradient-boosted trees,
# gbt.py), chosen on the forward figures of `python -m pipeline.tools.model_selection` (README).
MODEL_FAMILY = "keras"

# ---- Evaluator (TFMA) gates: loose sanity bounds -------------------------------------------------
# Point estimates on this span's eval days, flights counted as independent: they cannot tell a worse
# model from a bad week (October 2013: the candidate's 0.560 against the served model's 0.554 on the
# same days; April: -0.034 for a candidate that matched the served model on May). The decision on
# "worse than the serving model" is the behaviour validator's paired, day-aware `auc_vs_baseline`
# (below). These bounds only stop the grossly broken:
# - AUC floor 0.50 (better than chance): the eval split is the span's last week, after the training days
#   (December 2013, trained on all months: 0.634; the 1,500-flight fixture spans: 0.53-0.57); the lowest AUC
#   any model of the old 2013 replay had on a month's eval days was 0.554 (the served model, October). It
#   matters most on a first run, which has no serving model to be compared with.
# - change 0.05: 5x the behaviour validator's margin (AUC_REGRESSION_TOLERANCE); the replay's largest gap
#   was 0.034 (April), a candidate that then matched the served model on May (0.731 vs 0.730).
MIN_AUC = 0.50          # absolute floor of the candidate's overall AUC on this span's eval split
MAX_AUC_DROP = 0.05     # allowed AUC drop vs the serving model on this span's eval split

# ---- DriftValidator (components/drift_validator) ------------------------------------------------
# Per-feature distance thresholds: {"warn": w, "block": b} (distance > threshold fires). String features
# use TFDV's L-infinity distance, numeric ones its approximate Jensen-Shannon divergence (both in
# [0, 1]). Calibrated on the 11 month-to-month transitions of 2013 (`python -m pipeline.tools.drift_calibration`,
# figures in components/drift_validator/README.md): every feature has a block ceiling, seasonal weather
# included, above the largest real distance with a margin. `month` is not compared: spans are months.
DRIFT_FEATURE_THRESHOLDS = {
    # categorical (L-infinity between value frequencies)
    "carrier": {"warn": 0.05, "block": 0.1},
    "origin": {"warn": 0.05, "block": 0.1},
    "dest": {"warn": 0.05, "block": 0.1},
    # schedule (Jensen-Shannon divergence)
    "distance": {"warn": 0.06, "block": 0.1},
    "sched_dep_hour": {"warn": 0.05, "block": 0.1},
    "sched_arr_hour": {"warn": 0.05, "block": 0.1},
    "sched_dep_minute": {"warn": 0.05, "block": 0.1},
    # calendar and ids (Jan -> Feb: 31 -> 28 days moves `day` by 0.06)
    "day": {"warn": 0.1, "block": 0.2},
    "day_of_week": {"warn": 0.05, "block": 0.15},
    "flight": {"warn": 0.1, "block": 0.2},
    # weather: seasonal by nature, so the warn level is met by real months; the block ceilings sit
    # above the largest real distance (temp 0.37, precip 0.47)
    "temp": {"warn": 0.3, "block": 0.6},
    "dewp": {"warn": 0.3, "block": 0.7},  # train splits (days 1-23) of June vs July: 0.585
    "humid": {"warn": 0.2, "block": 0.4},
    "wind_dir": {"warn": 0.2, "block": 0.4},
    "wind_speed": {"warn": 0.15, "block": 0.3},
    "wind_gust": {"warn": 0.2, "block": 0.4},
    "precip": {"warn": 0.3, "block": 0.7},
    "pressure": {"warn": 0.3, "block": 0.5},
    "visib": {"warn": 0.2, "block": 0.4},
    # operations at the prediction moment (contract.OPERATIONS_FEATURES). Schedule volumes and departures
    # so far move little between months (largest 0.06 and 0.01); the queue (waiting) 0.27; the day's delay
    # state (mean delay, late share, yesterday's late rate) follows the delay season: up to 0.32 (Nov -> Dec)
    "origin_hour_departures": {"warn": 0.1, "block": 0.2},
    "origin_departed_so_far": {"warn": 0.1, "block": 0.2},
    "carrier_departed_so_far": {"warn": 0.1, "block": 0.2},
    "dest_hour_arrivals": {"warn": 0.3, "block": 0.5},
    "origin_waiting_now": {"warn": 0.3, "block": 0.5},
    "carrier_waiting_now": {"warn": 0.3, "block": 0.5},
    "origin_mean_dep_delay_so_far": {"warn": 0.35, "block": 0.6},
    "carrier_mean_dep_delay_so_far": {"warn": 0.35, "block": 0.6},
    "origin_late_dep_share_so_far": {"warn": 0.3, "block": 0.6},
    "carrier_late_dep_share_so_far": {"warn": 0.3, "block": 0.6},
    "origin_late_rate_yesterday": {"warn": 0.35, "block": 0.6},
    "carrier_late_rate_yesterday": {"warn": 0.3, "block": 0.6},
}
# Only for thresholds given as a number: those of these features block, the others warn.
DRIFT_BLOCKING_FEATURES = ()
# Label whose positive rate is compared (absolute change of the mean of the 0/1 label).
DRIFT_LABEL_KEY = contract.LABEL_KEY
# Monthly late rates of 2013 range over 0.15 (Sep) .. 0.35 (Dec); the largest change between adjacent
# months is 0.17 (Nov -> Dec), 0.197 on the train split the pipeline compares. A larger jump points at a
# labelling or data problem and blocks (an inverted label moves it by ~0.43).
DRIFT_LABEL_SHIFT_THRESHOLD = 0.24
# The DriftValidator's keyword arguments (create_pipeline passes them as they are).
# Dataset-level checks against the previous span (same calibration; figures in the component's README).
DRIFT_DATASET_CHECKS = {
    # rows now / rows before; 2013 ranges over 0.87 (Jan -> Feb) .. 1.16 (Feb -> Mar, 28 -> 31 days)
    "row_count": {"warn": [0.85, 1.2], "block": [0.7, 1.4]},
    # share of the rows carried by carrier/origin/dest values that vanished / appeared (2013: <= 0.2%)
    "categories_vanished": {"warn": 0.01, "block": 0.05},
    "categories_appeared": {"warn": 0.01, "block": 0.05},
    # rise of a feature's missing fraction; the origin weather misses hours (2013: <= 0.03), wind_gust
    # and pressure are missing for many hours and vary more (<= 0.17 and 0.10)
    "missing_rate": {"warn": 0.05, "block": 0.2},
    "missing_rate_features": {"wind_gust": {"warn": 0.2, "block": 0.35},
                              "pressure": {"warn": 0.15, "block": 0.3}},
    # rows that repeat an earlier row (2013: none)
    "duplicates": {"warn": 0.001, "block": 0.01},
    # values outside the curated schema's physical ranges; a column that became constant
    "schema_range": "block",
    "constant": "block",
    # ExampleValidator's anomalies against the curated schema: every kind blocks
    "anomalies": {},
    "anomaly_default": "block",
}
DRIFT_VALIDATOR = dict(
    feature_thresholds=DRIFT_FEATURE_THRESHOLDS,
    blocking_features=DRIFT_BLOCKING_FEATURES,
    label_key=DRIFT_LABEL_KEY,
    label_shift_threshold=DRIFT_LABEL_SHIFT_THRESHOLD,
    dataset_checks=DRIFT_DATASET_CHECKS,
)


def drift_config():
    """The DriftConfig the pipeline's DriftValidator builds from DRIFT_VALIDATOR (for code that runs the checks
    outside the pipeline: the monitoring job, the calibration)."""
    from components.drift_validator import checks, drift
    p = DRIFT_VALIDATOR
    return drift.DriftConfig(feature_thresholds=p["feature_thresholds"],
                             blocking_features=frozenset(p["blocking_features"]),
                             label_key=p["label_key"], label_shift_threshold=p["label_shift_threshold"],
                             dataset_checks=checks.DatasetChecks.from_dict(p["dataset_checks"]))


# ---- Monitoring (pipeline/monitor, `python -m pipeline monitor`) ------------------------------------
# Skew (serving vs the training span) and input drift (vs the previous window) use the drift policy above:
# a finding beyond a `block` threshold, the level that stops training, alerts; `warn` is reported only.
# A window's calendar features follow its dates, not the data (a week of traffic holds 7 days of one
# month; a month, its own days of the week): they are left out of skew and drift.
MONITOR_WINDOW_FEATURES = ("month", "day", "day_of_week")
# Prediction drift: TFDV's Jensen-Shannon divergence between the histogram of the logged answers and that of
# the served model's answers on its eval split. Measured: the June model on all of June 0.023, on July 0.019;
# fixture spans (1,500 flights) 0.05-0.08.
MONITOR_PREDICTION_DRIFT = {"warn": 0.1, "block": 0.25}
# Decay (with labels): live AUC and recall at contract.DECISION_THRESHOLD against the model's on its eval
# split; differences resampled by whole days (block bootstrap); a metric alerts when the one-sided
# `confidence` bound of live - eval lies below -margin, and only with >= min_days labelled days.
# Calibration (mean prediction / mean label: scores are class-balanced) is reported, not gated. In the 2013
# replay the served model's AUC on the next month was -0.19 .. +0.06 from its eval-split AUC: -0.18 and -0.19
# for the September model in October and November, -0.074 .. +0.057 in the nine other months; the June model
# on July: -0.049, bound -0.019 (no alert). The eval split is 4 days: the margin absorbs its own noise.
MONITOR_DECAY = {"margins": {"auc": 0.05, "recall": 0.10}, "confidence": 0.95, "resamples": 1000,
                 "min_days": 3, "seed": 0}

# ---- BehaviorValidator (components/behavior_validator) ------------------------------------------
# Its examples: the eval splits of the last BEHAVIOR_EVAL_SPANS spans up to this one (the newest Examples
# of each that was ingested), pooled. Neither the candidate nor the serving model trained on them (the
# Trainer reads train splits only). 3 spans: >= 21 eval days (>= 7 per span). Fewer days leave the
# day-block bootstrap little to resample (4 days: 35 distinct resamples) and intervals too narrow: June
# 2013's EV recall drop had [+0.03, +0.29] on its 4 eval days, [-0.00, +0.30] with May's added. More spans
# judge the candidate on months further from the one it will serve (the replay's served forward AUC moves
# by up to 0.08 from one month to the next).
BEHAVIOR_EVAL_SPANS = 3
EVALUATION_RESOLVER_ID = "evaluation_window_resolver"  # the node resolving them (create_pipeline)
# "Not worse than the serving model": significantly lower AUC by more than this fails the candidate.
AUC_REGRESSION_TOLERANCE = 0.01
# The BehaviorValidator's `config` (create_pipeline passes it as it is; thresholds not listed take the
# component's defaults, see its README). The model's contract comes from data/contract.py.
BEHAVIOR_VALIDATOR_CONFIG = dict(
    label_key=contract.LABEL_KEY,
    prediction_key=contract.PREDICTION_KEY,
    serving_signature=contract.SERVING_SIGNATURE,
    examples_signature=contract.EXAMPLES_SIGNATURE,
    examples_input=contract.EXAMPLES_INPUT,
    decision_threshold=contract.DECISION_THRESHOLD,
    # recall per carrier (and its regression versus the baseline)
    slice_feature="carrier",
    # the flights of one day share weather and delay cascades: every test resamples or aggregates whole
    # days (a span is a month of one year, and the pooled spans are consecutive months: month/day is the date)
    group_by_features=["month", "day"],
    # auc_vs_baseline fails when the candidate's AUC is significantly lower than the serving model's
    # (paired day-block bootstrap on the pooled eval days) by more than this
    auc_regression_tolerance=AUC_REGRESSION_TOLERANCE,
    # features the model must not depend on (contract.INVARIANT_FEATURES), and the values each eval
    # example is re-scored with
    invariance_values={f: {"flight": [1, 1234, 4321, 6789], "sched_dep_minute": [0, 17, 30, 59]}[f]
                       for f in contract.INVARIANT_FEATURES},
    # worse weather at the origin must not lower the predicted delay probability: more precipitation
    # (inches/hour), lower visibility (miles); only the float weather features may be perturbed
    perturbable_features=list(contract.WEATHER_FEATURES),
    directional_perturbations=[
        {"name": "precip_up", "feature": "precip", "op": "add", "value": 0.5},
        {"name": "visib_down", "feature": "visib", "op": "multiply", "value": 0.2},
    ],
    # custom ops a model may need (TF-DF's), imported only for a model that has them
    op_modules=list(custom_ops.OP_MODULES),
)

# ---- LocalInfraValidator (components/infra_validator) -------------------------------------------
# Served under the model name of production; queried with serialized eval tf.Examples on the
# examples signature (one DT_STRING [None] input, contract.EXAMPLES_INPUT: TFX finds its name).
INFRA_SIGNATURE_NAMES = (contract.EXAMPLES_SIGNATURE,)
INFRA_SPLIT = "eval"
INFRA_NUM_EXAMPLES = 10           # requests sent, and warmup records written into the pushed model
INFRA_MAX_LOADING_SECONDS = 300
INFRA_NUM_TRIES = 2
# Fallback when tensorflow_model_server is not installed: the project's server, same flags.
INFRA_SERVER_COMMAND = local_server.COMMAND


def infra_validator_args(model_name: str = MODEL_NAME) -> dict:
    """The LocalInfraValidator's keyword arguments besides its channels."""
    from components.infra_validator import make_request_spec, make_serving_spec, make_validation_spec
    return dict(
        serving_spec=make_serving_spec(model_name=model_name),
        request_spec=make_request_spec(split_name=INFRA_SPLIT, num_examples=INFRA_NUM_EXAMPLES,
                                       signature_names=INFRA_SIGNATURE_NAMES),
        validation_spec=make_validation_spec(max_loading_time_seconds=INFRA_MAX_LOADING_SECONDS,
                                             num_tries=INFRA_NUM_TRIES),
        server_command=INFRA_SERVER_COMMAND,
    )

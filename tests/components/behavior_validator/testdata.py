"""Tiny real SavedModels following the export contract, eval examples and schemas for the tests."""
import csv
import os
import random
from typing import Dict, List, Optional

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from components.behavior_validator.config import BehaviorValidatorConfig
from data import contract
from pipeline.dag import configs

GOOD = "good"
WEATHER_DECREASING = "weather_decreasing"   # ignores visibility, lower delay with more rain
FLIGHT_SENSITIVE = "flight_sensitive"       # flips with the parity of the flight number
OUT_OF_RANGE = "out_of_range"               # returns values outside [0, 1]
WEAK_ON_UA = "weak_on_ua"                   # good except it never flags carrier UA
WRONG_DTYPE = "wrong_dtype"                 # serving_default takes `flight` as float32
NO_EXAMPLES_SIGNATURE = "no_examples_signature"  # only serving_default
NAN_FOR_HIGH_FLIGHTS = "nan_for_high_flights"    # NaN when flight > 3000
VARIANTS = (GOOD, WEATHER_DECREASING, FLIGHT_SENSITIVE, OUT_OF_RANGE, WEAK_ON_UA, WRONG_DTYPE,
            NO_EXAMPLES_SIGNATURE, NAN_FOR_HIGH_FLIGHTS)

CARRIERS = ("AA", "B6", "DL", "UA")


def config(**overrides) -> BehaviorValidatorConfig:
    """The pipeline's behaviour validator config (pipeline/dag/configs.py) with some fields changed."""
    return BehaviorValidatorConfig.from_dict({**configs.BEHAVIOR_VALIDATOR_CONFIG, **overrides})
SPAN1_CSV = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "fixtures", "spans",
                         "span-1", "flights.csv")

# Values used when a weather feature is missing from a tf.Example.
_PARSE_DEFAULTS = {"visib": 10.0}


def true_logit(precip, visib, sched_dep_hour, carrier_is_b6):
    """Delay log-odds of the generated data (and of the GOOD model)."""
    return -3.0 + 6.0 * precip + 0.6 * (10.0 - visib) + 0.15 * (sched_dep_hour - 12.0) \
        + 0.8 * carrier_is_b6


def _tf_dtype(feature):
    return tf.as_dtype(contract.tf_dtype_name(feature))


class _FlightModel(tf.Module):
    """sigmoid(logit) with the variant's defect; both contract signatures."""

    def __init__(self, variant):
        super().__init__()
        self._variant = variant
        self._dtypes = {f: _tf_dtype(f) for f in contract.FEATURE_KEYS}
        if variant == WRONG_DTYPE:
            self._dtypes["flight"] = tf.float32
        self.serve_raw = tf.function(self._serve_raw, input_signature=[{
            f: tf.TensorSpec([None], d, name=f) for f, d in self._dtypes.items()}])
        self.serve_examples = tf.function(self._serve_examples, input_signature=[
            tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)])

    def _probability(self, f):
        precip, visib = f["precip"], f["visib"]
        hour = tf.cast(f["sched_dep_hour"], tf.float32)
        b6 = tf.cast(tf.equal(f["carrier"], "B6"), tf.float32)
        if self._variant == WEATHER_DECREASING:
            logit = -1.0 - 3.0 * precip + 0.15 * (hour - 12.0)
        else:
            logit = true_logit(precip, visib, hour, b6)
        if self._variant == FLIGHT_SENSITIVE:
            odd = tf.cast(tf.math.floormod(tf.cast(f["flight"], tf.int64), 2), tf.float32)
            logit += 4.0 * odd - 2.0
        if self._variant == WEAK_ON_UA:
            logit -= 20.0 * tf.cast(tf.equal(f["carrier"], "UA"), tf.float32)
        p = tf.sigmoid(logit)
        if self._variant == NAN_FOR_HIGH_FLIGHTS:
            p = tf.where(tf.cast(f["flight"], tf.int64) > 3000, tf.constant(float("nan")), p)
        if self._variant == OUT_OF_RANGE:
            p = 1.6 * p - 0.3
        return p

    def _serve_raw(self, feats):
        return {contract.PREDICTION_KEY: self._probability(feats)}

    def _serve_examples(self, examples):
        spec = {}
        for f in self._dtypes:
            d = _tf_dtype(f)
            default = {tf.string: "", tf.int64: 0}.get(d, _PARSE_DEFAULTS.get(f, 0.0))
            spec[f] = tf.io.FixedLenFeature([], d, default_value=default)
        parsed = tf.io.parse_example(examples, spec)
        parsed = {f: tf.cast(v, self._dtypes[f]) for f, v in parsed.items()}
        return {contract.PREDICTION_KEY: self._probability(parsed)}


def build_saved_model(export_dir: str, variant: str) -> str:
    """Writes a SavedModel with `serving_default` and `serving_tf_example`; returns export_dir."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}")
    m = _FlightModel(variant)
    signatures = {contract.SERVING_SIGNATURE: m.serve_raw}
    if variant != NO_EXAMPLES_SIGNATURE:
        signatures[contract.EXAMPLES_SIGNATURE] = m.serve_examples
    tf.saved_model.save(m, export_dir, signatures=signatures)
    return export_dir


# ----------------------------------------------------------------------------------------------


def generated_rows(n: int, seed: int = 7) -> List[Dict[str, object]]:
    """Rows following the column contract; `late` drawn from true_logit (None = missing)."""
    rng = random.Random(seed)
    board = random.Random(seed + 1)  # the operations columns (own stream: the rows above stay as they were)
    rows = []
    for i in range(n):
        precip = 0.0 if rng.random() < 0.6 else round(rng.uniform(0.0, 0.6), 2)
        visib = 10.0 if rng.random() < 0.6 else round(rng.uniform(0.5, 10.0), 1)
        hour = rng.randint(5, 22)
        carrier = CARRIERS[i % len(CARRIERS)]
        logit = true_logit(precip, visib, hour, float(carrier == "B6"))
        late = int(logit + rng.gauss(0.0, 0.7) > 0)
        rows.append({
            "month": 1, "day": rng.randint(1, 31), "day_of_week": rng.randint(0, 6),
            "sched_dep_hour": hour, "sched_dep_minute": rng.randint(0, 59),
            "sched_arr_hour": (hour + 2) % 24, "carrier": carrier, "flight": rng.randint(1, 6000),
            "origin": rng.choice(["EWR", "JFK", "LGA"]), "dest": rng.choice(["ATL", "ORD", "LAX"]),
            "distance": rng.randint(100, 2500), "temp": rng.uniform(20, 60), "dewp": rng.uniform(10, 40),
            "humid": rng.uniform(30, 95), "wind_dir": float(rng.randrange(0, 360, 10)),
            "wind_speed": rng.uniform(0, 25), "wind_gust": None if rng.random() < 0.8 else 30.0,
            "precip": precip, "pressure": None if rng.random() < 0.1 else rng.uniform(1000, 1030),
            "visib": visib, "late": late,
            **{k: float(board.randint(0, 40)) for k in contract.OPERATIONS_FEATURES},
        })
    return rows


def csv_rows(path: str = SPAN1_CSV, limit: Optional[int] = None) -> List[Dict[str, object]]:
    """Rows of a span CSV (empty cells -> None, typed per the column contract)."""
    rows = []
    with open(path, newline="") as f:
        for line_no, raw in enumerate(csv.DictReader(f), start=2):
            row = {}
            for col in contract.CSV_COLUMNS:
                v = raw[col]
                dtype = contract.tf_dtype_name(col)
                try:
                    row[col] = None if v == "" else (v if dtype == "string" else
                                                     int(v) if dtype == "int64" else float(v))
                except ValueError as e:
                    raise ValueError(f"{path}:{line_no}: column {col!r} value {v!r}: {e}") from e
            rows.append(row)
            if limit and len(rows) >= limit:
                break
    return rows


def to_example(row: Dict[str, object]) -> tf.train.Example:
    """contract.example_from_row, with the label when it is not None (None = label missing)."""
    ex = contract.example_from_row(row)
    if row.get(contract.LABEL_KEY) is not None:
        ex.features.feature[contract.LABEL_KEY].int64_list.value.append(int(row[contract.LABEL_KEY]))
    return ex


def write_split(split_dir: str, rows: List[Dict[str, object]], shards: int = 2) -> List[str]:
    """Gzipped TFRecord files of tf.Example, named like ExampleGen's."""
    os.makedirs(split_dir, exist_ok=True)
    paths = []
    for s in range(shards):
        path = os.path.join(split_dir, f"data_tfrecord-{s:05d}-of-{shards:05d}.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as w:
            for row in rows[s::shards]:
                w.write(to_example(row).SerializeToString())
        paths.append(path)
    return paths


def make_schema(extra_features=()) -> schema_pb2.Schema:
    """Schema with every contract feature (+ label, + extra string features)."""
    types = {"string": schema_pb2.BYTES, "int64": schema_pb2.INT, "float32": schema_pb2.FLOAT}
    schema = schema_pb2.Schema()
    for name in contract.FEATURE_KEYS + (contract.LABEL_KEY,):
        schema.feature.add(name=name, type=types[contract.tf_dtype_name(name)])
    for name in extra_features:
        schema.feature.add(name=name, type=schema_pb2.BYTES)
    return schema


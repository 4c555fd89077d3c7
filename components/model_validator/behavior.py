"""Behaviour checks of an exported model over an eval split: Apache Beam + TensorFlow only (no TFX).

`validate_model` is the entry point. Data checks (output range, invariance, directional
expectations, per-slice recall and regression versus a baseline) run in one Beam pipeline: a DoFn
loads the SavedModel(s) once per instance in setup(), scores batches of serialized tf.Examples and
their perturbed copies through the `serving_tf_example` signature, and CombineFns aggregate. The
serving signature, latency and size checks run in the calling process.
"""
import dataclasses
import json
import math
import os
import statistics
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
import numpy as np
import tensorflow as tf

from components.model_validator import constants as c
from components.model_validator.config import ValidatorConfig
from data import contract as features

_METRICS_FILE = "behavior_metrics.json"


@dataclasses.dataclass
class CheckResult:
    """Verdict of one check with the figures and thresholds it was decided on."""
    name: str
    verdict: str                      # c.PASS, c.FAIL or c.SKIPPED
    summary: str
    figures: Dict[str, Any] = dataclasses.field(default_factory=dict)
    thresholds: Dict[str, Any] = dataclasses.field(default_factory=dict)
    rows: List[Dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ValidationResult:
    blessed: bool
    checks: List[CheckResult]
    model_path: str
    baseline_model_path: Optional[str]
    config: ValidatorConfig

    @property
    def failed_checks(self) -> List[str]:
        return [r.name for r in self.checks if r.verdict == c.FAIL]

    def check(self, name: str) -> CheckResult:
        for r in self.checks:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "blessed": self.blessed,
            "failed_checks": self.failed_checks,
            "model_path": self.model_path,
            "baseline_model_path": self.baseline_model_path,
            "config": dataclasses.asdict(self.config),
            "checks": [dataclasses.asdict(r) for r in self.checks],
        }


def require_upstream_blessing(result: ValidationResult, blessing_uri: str, blessed: bool) -> ValidationResult:
    """Adds an `upstream_blessing` check (e.g. Evaluator's verdict); the model stays blessed only if it passed."""
    check = CheckResult(
        name="upstream_blessing", verdict=c.PASS if blessed else c.FAIL,
        summary=(f"upstream validator blessed the model ({blessing_uri})" if blessed
                 else f"upstream validator did NOT bless the model ({blessing_uri})"),
        figures={"blessed": int(blessed)}, thresholds={"blessed": 1})
    return dataclasses.replace(result, checks=result.checks + [check], blessed=result.blessed and blessed)


# ----------------------------------------------------------------------------------------------
# tf.Example helpers


def _feature_values(example: tf.train.Example, name: str) -> list:
    if name not in example.features.feature:
        return []
    f = example.features.feature[name]
    kind = f.WhichOneof("kind")
    return list(getattr(f, kind).value) if kind else []


def _set_feature(example: tf.train.Example, name: str, value: Any) -> None:
    f = example.features.feature[name]
    f.Clear()
    dtype = features.tf_dtype_name(name)
    if dtype == "string":
        f.bytes_list.value.append(value.encode() if isinstance(value, str) else bytes(value))
    elif dtype == "int64":
        f.int64_list.value.append(int(value))
    else:
        f.float_list.value.append(float(value))


def _perturb(value: float, op: str, amount: float) -> float:
    if op == "add":
        return value + amount
    if op == "multiply":
        return value * amount
    return amount


def _delta(a: float, b: float) -> float:
    d = abs(float(a) - float(b))
    return d if math.isfinite(d) else math.inf


# ----------------------------------------------------------------------------------------------
# Beam: scoring DoFn


def _load_examples_fn(model_path: str):
    model = tf.saved_model.load(model_path)
    if features.EXAMPLES_SIGNATURE not in model.signatures:
        raise ValueError(f"SavedModel {model_path} has no signature {features.EXAMPLES_SIGNATURE!r} "
                         f"(has {sorted(model.signatures.keys())})")
    return model, model.signatures[features.EXAMPLES_SIGNATURE]


def _predict(fn, serialized: Sequence[bytes], model_path: str) -> np.ndarray:
    out = fn(**{features.EXAMPLES_INPUT: tf.constant(list(serialized), dtype=tf.string)})
    if features.PREDICTION_KEY not in out:
        raise ValueError(f"SavedModel {model_path}: {features.EXAMPLES_SIGNATURE} returned "
                         f"{sorted(out)} instead of {features.PREDICTION_KEY!r}")
    preds = np.asarray(out[features.PREDICTION_KEY].numpy(), dtype=np.float64).reshape(-1)
    if preds.shape[0] != len(serialized):
        raise ValueError(f"SavedModel {model_path}: {features.PREDICTION_KEY} has {preds.shape[0]} "
                         f"values for {len(serialized)} examples")
    return preds


class ScoreExamplesDoFn(beam.DoFn):
    """Scores batches of (file, serialized tf.Example) and their perturbed copies.

    Emits one dict per example: slice value, label, prediction, baseline prediction (or None),
    max |delta| per invariant feature and prediction delta per directional perturbation (only when
    the perturbed feature is present).
    """

    def __init__(self, model_path: str, baseline_model_path: Optional[str],
                 config: ValidatorConfig):
        self._model_path = model_path
        self._baseline_model_path = baseline_model_path
        self._config = config

    def setup(self):
        self._model, self._fn = _load_examples_fn(self._model_path)
        self._baseline_fn = None
        if self._baseline_model_path:
            self._baseline, self._baseline_fn = _load_examples_fn(self._baseline_model_path)

    def process(self, batch: List[Tuple[str, bytes]]) -> Iterable[Dict[str, Any]]:
        cfg = self._config
        inputs: List[bytes] = []
        plans = []
        for filename, serialized in batch:
            ex = tf.train.Example.FromString(serialized)
            label = _feature_values(ex, features.LABEL_KEY)
            if len(label) != 1 or label[0] not in (0, 1):
                raise ValueError(f"{filename}: eval example has label {features.LABEL_KEY!r} = {label!r}; "
                                 "expected exactly one int 0 or 1")
            slice_values = _feature_values(ex, cfg.slice_feature)
            slice_value = slice_values[0] if slice_values else "<missing>"
            if isinstance(slice_value, bytes):
                slice_value = slice_value.decode("utf-8", "replace")
            plan = {"slice": str(slice_value), "label": int(label[0]), "orig": len(inputs),
                    "inv": {}, "dir": {}}
            inputs.append(serialized)
            for feature, values in cfg.invariance_values.items():
                idx = []
                for value in values:
                    variant = tf.train.Example()
                    variant.CopyFrom(ex)
                    _set_feature(variant, feature, value)
                    idx.append(len(inputs))
                    inputs.append(variant.SerializeToString())
                plan["inv"][feature] = idx
            for p in cfg.directional_perturbations:
                current = _feature_values(ex, p["feature"])
                if not current or not math.isfinite(current[0]):
                    continue
                variant = tf.train.Example()
                variant.CopyFrom(ex)
                _set_feature(variant, p["feature"], _perturb(current[0], p["op"], p["value"]))
                plan["dir"][p["name"]] = len(inputs)
                inputs.append(variant.SerializeToString())
            plans.append(plan)
        preds = _predict(self._fn, inputs, self._model_path)
        baseline = None
        if self._baseline_fn is not None:
            baseline = _predict(self._baseline_fn, [s for _, s in batch], self._baseline_model_path)
        for i, plan in enumerate(plans):
            pred = float(preds[plan["orig"]])
            yield {
                "slice": plan["slice"],
                "label": plan["label"],
                "pred": pred,
                "baseline_pred": None if baseline is None else float(baseline[i]),
                "inv": {f: max(_delta(preds[j], pred) for j in idx) for f, idx in plan["inv"].items()},
                "dir": {n: float(preds[j]) - pred for n, j in plan["dir"].items()},
            }


# ----------------------------------------------------------------------------------------------
# Beam: CombineFns


class PredictionRangeCombineFn(beam.CombineFn):
    """count, min, max, mean of predictions; how many are non-finite or outside [0, 1]."""

    def create_accumulator(self):
        return [0, math.inf, -math.inf, 0.0, 0, 0]

    def add_input(self, acc, row):
        p = row["pred"]
        acc[0] += 1
        if not math.isfinite(p):
            acc[4] += 1
            return acc
        acc[1], acc[2] = min(acc[1], p), max(acc[2], p)
        acc[3] += p
        if p < 0.0 or p > 1.0:
            acc[5] += 1
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out = [out[0] + a[0], min(out[1], a[1]), max(out[2], a[2]), out[3] + a[3], out[4] + a[4],
                   out[5] + a[5]]
        return out

    def extract_output(self, acc):
        finite = acc[0] - acc[4]
        return {"examples": acc[0], "min": acc[1] if finite else None,
                "max": acc[2] if finite else None, "mean": acc[3] / finite if finite else None,
                "non_finite": acc[4], "out_of_range": acc[5]}


class InvarianceCombineFn(beam.CombineFn):
    """Per invariant feature: examples, max and mean |prediction delta|."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, row):
        for f, d in row["inv"].items():
            a = acc.setdefault(f, [0, 0.0, 0.0])
            a[0] += 1
            a[1] = max(a[1], d)
            a[2] += d
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for f, a in acc.items():
                o = out.setdefault(f, [0, 0.0, 0.0])
                o[0], o[1], o[2] = o[0] + a[0], max(o[1], a[1]), o[2] + a[2]
        return out

    def extract_output(self, acc):
        return {f: {"examples": a[0], "max_abs_delta": a[1],
                    "mean_abs_delta": a[2] / a[0] if a[0] else None} for f, a in acc.items()}


class DirectionalCombineFn(beam.CombineFn):
    """Per perturbation: examples with the feature present, mean prediction delta, share lowered."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, row):
        for name, d in row["dir"].items():
            a = acc.setdefault(name, [0, 0.0, 0, 0.0])
            a[0] += 1
            a[1] += d
            a[2] += int(d < 0)
            a[3] += row["pred"]
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for name, a in acc.items():
                o = out.setdefault(name, [0, 0.0, 0, 0.0])
                for k in range(4):
                    o[k] += a[k]
        return out

    def extract_output(self, acc):
        return {n: {"examples": a[0], "mean_delta": a[1] / a[0] if a[0] else None,
                    "mean_prediction": a[3] / a[0] if a[0] else None,
                    "share_lowered": a[2] / a[0] if a[0] else None} for n, a in acc.items()}


class ConfusionCombineFn(beam.CombineFn):
    """Examples, positives, true positives (candidate and baseline) at the decision threshold."""

    def __init__(self, threshold: float = features.DECISION_THRESHOLD):
        self._threshold = threshold

    def create_accumulator(self):
        return [0, 0, 0, 0, 0]  # examples, positives, tp, baseline tp, predicted positive

    def add_input(self, acc, row):
        positive = row["label"] == 1
        acc[0] += 1
        acc[1] += int(positive)
        acc[2] += int(positive and row["pred"] >= self._threshold)
        b = row["baseline_pred"]
        acc[3] += int(positive and b is not None and b >= self._threshold)
        acc[4] += int(row["pred"] >= self._threshold)
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out = [x + y for x, y in zip(out, a)]
        return out

    def extract_output(self, acc):
        n, pos, tp, btp, pp = acc
        return {"examples": n, "positives": pos, "recall": tp / pos if pos else None,
                "baseline_recall": btp / pos if pos else None,
                "predicted_positive_rate": pp / n if n else None}


class ComputeBehaviorMetrics(beam.PTransform):
    """PCollection of (file name, serialized tf.Example) -> one dict of aggregated figures."""

    def __init__(self, model_path: str, baseline_model_path: Optional[str],
                 config: ValidatorConfig):
        super().__init__()
        self._model_path = model_path
        self._baseline_model_path = baseline_model_path
        self._config = config

    def expand(self, examples):
        rows = (
            examples
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._config.batch_size)
            | "Score" >> beam.ParDo(ScoreExamplesDoFn(
                self._model_path, self._baseline_model_path, self._config)))
        parts = [
            rows | "Range" >> beam.CombineGlobally(PredictionRangeCombineFn())
            | "TagRange" >> beam.Map(lambda v: ("range", v)),
            rows | "Invariance" >> beam.CombineGlobally(InvarianceCombineFn())
            | "TagInvariance" >> beam.Map(lambda v: ("invariance", v)),
            rows | "Directional" >> beam.CombineGlobally(DirectionalCombineFn())
            | "TagDirectional" >> beam.Map(lambda v: ("directional", v)),
            rows | "Overall" >> beam.CombineGlobally(ConfusionCombineFn())
            | "TagOverall" >> beam.Map(lambda v: ("overall", v)),
            rows | "KeyBySlice" >> beam.Map(lambda r: (r["slice"], r))
            | "PerSlice" >> beam.CombinePerKey(ConfusionCombineFn())
            | "SlicesToDict" >> beam.combiners.ToDict()
            | "TagSlices" >> beam.Map(lambda v: ("slices", v)),
        ]
        return parts | "Flatten" >> beam.Flatten() | "ToDict" >> beam.combiners.ToDict()


def eval_files(file_pattern: str) -> List[str]:
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise ValueError(f"no eval example files match {file_pattern}")
    return files


def compute_behavior_metrics(
    model_path: str, file_pattern: str, work_dir: str, config: ValidatorConfig,
    baseline_model_path: Optional[str] = None,
    make_pipeline: Callable[[], beam.Pipeline] = beam.Pipeline) -> Dict[str, Any]:
    """Runs the Beam pipeline over gzipped TFRecords of tf.Example; returns the aggregated figures."""
    files = eval_files(file_pattern)
    tf.io.gfile.makedirs(work_dir)
    out_path = os.path.join(work_dir, _METRICS_FILE)
    with make_pipeline() as p:
        _ = (p
             | "EvalFiles" >> beam.Create(files)
             | "ReadExamples" >> beam.io.ReadAllFromTFRecord(
                 compression_type=CompressionTypes.GZIP, with_filename=True)
             | "Metrics" >> ComputeBehaviorMetrics(model_path, baseline_model_path, config)
             | "ToJson" >> beam.Map(json.dumps, sort_keys=True)
             | "Write" >> beam.io.WriteToText(out_path, shard_name_template="", num_shards=1))
    with tf.io.gfile.GFile(out_path) as f:
        return json.loads(f.read())


# ----------------------------------------------------------------------------------------------
# Checks decided on the aggregated figures


def _fmt(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def check_output_range(m: Mapping[str, Any]) -> CheckResult:
    r = m["range"]
    thresholds = {"min": 0.0, "max": 1.0, "allowed_out_of_range": 0, "allowed_non_finite": 0}
    if r["examples"] == 0:
        return CheckResult(c.CHECK_OUTPUT_RANGE, c.FAIL, "no eval examples were scored", r, thresholds)
    bad = r["out_of_range"] + r["non_finite"]
    verdict = c.PASS if bad == 0 else c.FAIL
    return CheckResult(
        c.CHECK_OUTPUT_RANGE, verdict,
        f"{bad} of {r['examples']} eval predictions outside [0, 1] or non-finite "
        f"(min {_fmt(r['min'])}, max {_fmt(r['max'])})", r, thresholds)


def check_invariance(m: Mapping[str, Any], cfg: ValidatorConfig) -> CheckResult:
    rows, failed = [], []
    for feature in sorted(cfg.invariance_values):
        fig = m["invariance"].get(feature, {"examples": 0, "max_abs_delta": None,
                                            "mean_abs_delta": None})
        ok = fig["examples"] > 0 and fig["max_abs_delta"] <= cfg.invariance_tolerance
        if not ok:
            failed.append(feature)
        rows.append({"feature": feature, "replaced_by": cfg.invariance_values[feature], **fig,
                     "verdict": c.PASS if ok else c.FAIL})
    worst = max((r["max_abs_delta"] or 0.0 for r in rows), default=0.0)
    summary = (f"changing {', '.join(failed)} moves a prediction by up to {worst:.4g} "
               f"(> {cfg.invariance_tolerance})" if failed else
               f"max |prediction delta| {worst:.6g} <= {cfg.invariance_tolerance}")
    return CheckResult(c.CHECK_INVARIANCE, c.FAIL if failed else c.PASS, summary,
                       {"max_abs_delta": worst},
                       {"max_abs_delta": cfg.invariance_tolerance}, rows)


def check_directional(m: Mapping[str, Any], cfg: ValidatorConfig) -> CheckResult:
    rows, failed, evaluated = [], [], 0
    for p in cfg.directional_perturbations:
        fig = m["directional"].get(p["name"], {"examples": 0, "mean_delta": None,
                                               "mean_prediction": None, "share_lowered": None})
        if fig["examples"] == 0:
            verdict = c.SKIPPED
        else:
            evaluated += 1
            ok = math.isfinite(fig["mean_delta"]) and fig["mean_delta"] >= -cfg.directional_tolerance
            verdict = c.PASS if ok else c.FAIL
            if not ok:
                failed.append(p["name"])
        rows.append({"perturbation": p["name"], "change": f"{p['feature']} {p['op']} {p['value']}",
                     **fig, "verdict": verdict})
    thresholds = {"min_mean_delta": 0.0 - cfg.directional_tolerance}
    deltas = [r["mean_delta"] for r in rows if r["verdict"] != c.SKIPPED]
    figures = {"min_mean_delta": min(deltas)} if deltas else {}
    if failed:
        return CheckResult(c.CHECK_DIRECTIONAL, c.FAIL,
                           f"worse weather lowers the mean predicted delay probability: "
                           f"{', '.join(failed)}", figures, thresholds, rows)
    if not evaluated:
        return CheckResult(c.CHECK_DIRECTIONAL, c.SKIPPED,
                           "no eval example has the perturbed weather features", figures, thresholds, rows)
    return CheckResult(c.CHECK_DIRECTIONAL, c.PASS,
                       "worse weather never lowers the mean predicted delay probability (smallest "
                       f"mean change {min(deltas):+.4g})", figures, thresholds, rows)


def _eligible_slices(m: Mapping[str, Any], cfg: ValidatorConfig):
    return {s: v for s, v in sorted(m["slices"].items())
            if v["examples"] >= cfg.min_slice_examples and v["positives"] > 0}


def check_slice_recall(m: Mapping[str, Any], cfg: ValidatorConfig) -> CheckResult:
    eligible = _eligible_slices(m, cfg)
    thresholds = {"min_recall": cfg.min_slice_recall, "min_slice_examples": cfg.min_slice_examples,
                  "decision_threshold": features.DECISION_THRESHOLD}
    figures = {"overall_recall": m["overall"]["recall"], "slices": len(m["slices"]),
               "eligible_slices": len(eligible)}
    rows, failed = [], []
    for s, v in sorted(m["slices"].items()):
        if s not in eligible:
            verdict = c.SKIPPED
        elif v["recall"] >= cfg.min_slice_recall:
            verdict = c.PASS
        else:
            verdict = c.FAIL
            failed.append(s)
        rows.append({cfg.slice_feature: s, "examples": v["examples"], "positives": v["positives"],
                     "recall": v["recall"], "verdict": verdict})
    if failed:
        return CheckResult(c.CHECK_SLICE_RECALL, c.FAIL,
                           f"recall below {cfg.min_slice_recall} for {cfg.slice_feature} "
                           f"{', '.join(failed)}", figures, thresholds, rows)
    if not eligible:
        return CheckResult(c.CHECK_SLICE_RECALL, c.SKIPPED,
                           f"no {cfg.slice_feature} slice has >= {cfg.min_slice_examples} examples "
                           "and a positive", figures, thresholds, rows)
    worst = min(v["recall"] for v in eligible.values())
    return CheckResult(c.CHECK_SLICE_RECALL, c.PASS,
                       f"lowest {cfg.slice_feature} recall {worst:.4f} >= {cfg.min_slice_recall} "
                       f"over {len(eligible)} slices", figures, thresholds, rows)


def check_slice_regression(m: Mapping[str, Any], cfg: ValidatorConfig,
                           has_baseline: bool) -> CheckResult:
    thresholds = {"max_recall_drop": cfg.slice_regression_tolerance,
                  "min_slice_examples": cfg.min_slice_examples}
    if not has_baseline:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.SKIPPED, "no baseline model", {}, thresholds)
    eligible = _eligible_slices(m, cfg)
    rows, failed = [], []
    for s, v in eligible.items():
        drop = v["baseline_recall"] - v["recall"]
        ok = drop <= cfg.slice_regression_tolerance
        if not ok:
            failed.append(s)
        rows.append({cfg.slice_feature: s, "examples": v["examples"], "recall": v["recall"],
                     "baseline_recall": v["baseline_recall"], "recall_drop": drop,
                     "verdict": c.PASS if ok else c.FAIL})
    figures = {"overall_recall": m["overall"]["recall"],
               "overall_baseline_recall": m["overall"]["baseline_recall"],
               "eligible_slices": len(eligible)}
    if failed:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.FAIL,
                           f"recall dropped by more than {cfg.slice_regression_tolerance} versus the "
                           f"baseline for {cfg.slice_feature} {', '.join(failed)}",
                           figures, thresholds, rows)
    if not eligible:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.SKIPPED, "no eligible slice", figures,
                           thresholds, rows)
    return CheckResult(c.CHECK_SLICE_REGRESSION, c.PASS,
                       f"no {cfg.slice_feature} recall dropped by more than "
                       f"{cfg.slice_regression_tolerance} versus the baseline", figures,
                       thresholds, rows)


# ----------------------------------------------------------------------------------------------
# Checks run in the calling process: serving signature, latency, size

_SCHEMA_TYPE_TO_DTYPE = {1: "string", 2: "int64", 3: "float32"}  # schema_pb2.FeatureType
_DEFAULTS = {"string": b"", "int64": 0, "float32": 0.0}


def serving_features_from_schema(schema) -> Dict[str, str]:
    """Feature name -> 'string' | 'int64' | 'float32' for every schema feature available at serving
    (tensorflow_metadata Schema; the label and features excluded from SERVING are left out)."""
    out = {}
    for f in schema.feature:
        if f.name == features.LABEL_KEY or "SERVING" in f.not_in_environment:
            continue
        if f.type not in _SCHEMA_TYPE_TO_DTYPE:
            raise ValueError(f"schema feature {f.name!r} has unsupported type {f.type}")
        out[f.name] = _SCHEMA_TYPE_TO_DTYPE[f.type]
    return out


def read_sample(file_pattern: str, n: int) -> List[bytes]:
    ds = tf.data.TFRecordDataset(eval_files(file_pattern), compression_type="GZIP")
    return [r.numpy() for r in ds.take(n)]


def _raw_batch(serialized: Sequence[bytes], spec: Mapping[str, str]):
    """Feature tensors for serving_default; also whether each example had every feature."""
    columns = {name: [] for name in spec}
    complete = []
    for s in serialized:
        ex = tf.train.Example.FromString(s)
        full = True
        for name, dtype in spec.items():
            v = _feature_values(ex, name)
            if not v:
                full = False
            columns[name].append(v[0] if v else _DEFAULTS[dtype])
        complete.append(full)
    tensors = {name: tf.constant(vals, dtype=tf.as_dtype(spec[name]))
               for name, vals in columns.items()}
    return tensors, complete


def _dtype_name(dtype: tf.DType) -> str:
    return {tf.string: "string", tf.int64: "int64", tf.float32: "float32"}.get(dtype, dtype.name)


def check_serving_signature(model, schema_features: Mapping[str, str], sample: Sequence[bytes],
                            cfg: ValidatorConfig) -> CheckResult:
    thresholds = {"output": f"{features.PREDICTION_KEY} float32 [None] in [0, 1]",
                  "max_abs_diff_vs_" + features.EXAMPLES_SIGNATURE:
                      cfg.signature_consistency_tolerance}
    problems = []
    figures: Dict[str, Any] = {"schema_features": len(schema_features),
                               "signatures": sorted(model.signatures.keys())}
    rows = []
    if features.SERVING_SIGNATURE not in model.signatures:
        return CheckResult(c.CHECK_SIGNATURE, c.FAIL,
                           f"no {features.SERVING_SIGNATURE!r} signature", figures, thresholds)
    sig = model.signatures[features.SERVING_SIGNATURE]
    inputs = sig.structured_input_signature[1]
    for name, dtype in sorted(schema_features.items()):
        spec = inputs.get(name)
        got = None if spec is None else f"{_dtype_name(spec.dtype)} {spec.shape}"
        ok = spec is not None and _dtype_name(spec.dtype) == dtype and \
            spec.shape.is_compatible_with([None]) and spec.shape.rank == 1
        rows.append({"feature": name, "schema_dtype": dtype, "signature_input": got,
                     "verdict": c.PASS if ok else c.FAIL})
        if not ok:
            problems.append(f"input {name!r}: expected {dtype} [None], got {got}")
    for extra in sorted(set(inputs) - set(schema_features)):
        problems.append(f"input {extra!r} is not a serving feature of the schema")
        rows.append({"feature": extra, "schema_dtype": None,
                     "signature_input": f"{_dtype_name(inputs[extra].dtype)} {inputs[extra].shape}",
                     "verdict": c.FAIL})
    outputs = sig.structured_outputs
    out_spec = outputs.get(features.PREDICTION_KEY) if isinstance(outputs, dict) else None
    if out_spec is None or out_spec.dtype != tf.float32 or out_spec.shape.rank not in (None, 1):
        problems.append(f"output {features.PREDICTION_KEY!r} float32 [None] missing "
                        f"(outputs: {outputs})")
    if not problems and sample:
        tensors, complete = _raw_batch(sample, schema_features)
        try:
            preds = np.asarray(sig(**tensors)[features.PREDICTION_KEY].numpy(), dtype=np.float64)
        except Exception as e:  # pylint: disable=broad-except  # the verdict names the error
            problems.append(f"calling {features.SERVING_SIGNATURE} on {len(sample)} eval examples "
                            f"failed: {type(e).__name__}: {str(e)[:300]}")
            preds = None
        if preds is not None:
            figures.update(sample_size=len(sample), sample_min=float(np.min(preds)),
                           sample_max=float(np.max(preds)))
            if preds.shape != (len(sample),):
                problems.append(f"output shape {preds.shape} for {len(sample)} examples")
            elif not np.all(np.isfinite(preds)) or preds.min() < 0 or preds.max() > 1:
                problems.append(f"returns values outside [0, 1]: min {preds.min()}, max {preds.max()}")
            full = [s for s, ok in zip(sample, complete) if ok]
            figures["complete_sample_examples"] = len(full)
            if full and preds.shape == (len(sample),):
                if features.EXAMPLES_SIGNATURE in model.signatures:
                    try:
                        other = _predict(model.signatures[features.EXAMPLES_SIGNATURE], full, "model")
                        diff = float(np.max(np.abs(other - preds[np.array(complete)])))
                    except Exception as e:  # pylint: disable=broad-except  # the verdict names the error
                        problems.append(f"calling {features.EXAMPLES_SIGNATURE} failed: "
                                        f"{type(e).__name__}: {str(e)[:300]}")
                        diff = math.nan
                    figures["max_abs_diff_vs_" + features.EXAMPLES_SIGNATURE] = diff
                    if not diff <= cfg.signature_consistency_tolerance:
                        problems.append(f"{features.SERVING_SIGNATURE} and {features.EXAMPLES_SIGNATURE} "
                                        f"disagree by {diff:.6g} on the same examples")
    if features.EXAMPLES_SIGNATURE in model.signatures:
        ex_sig = model.signatures[features.EXAMPLES_SIGNATURE]
        ex_in = ex_sig.structured_input_signature[1].get(features.EXAMPLES_INPUT)
        ex_out = ex_sig.structured_outputs.get(features.PREDICTION_KEY) \
            if isinstance(ex_sig.structured_outputs, dict) else None
        if ex_in is None or ex_in.dtype != tf.string or ex_in.shape.rank != 1:
            problems.append(f"{features.EXAMPLES_SIGNATURE}: input {features.EXAMPLES_INPUT!r} must be "
                            f"string [None], got {ex_in}")
        if ex_out is None or ex_out.dtype != tf.float32 or ex_out.shape.rank not in (None, 1):
            problems.append(f"{features.EXAMPLES_SIGNATURE}: output {features.PREDICTION_KEY!r} must be "
                            f"float32 [None], got {ex_out}")
    else:
        problems.append(f"no {features.EXAMPLES_SIGNATURE!r} signature")
    if problems:
        figures["problems"] = problems
        return CheckResult(c.CHECK_SIGNATURE, c.FAIL, "; ".join(problems), figures, thresholds, rows)
    return CheckResult(c.CHECK_SIGNATURE, c.PASS,
                       f"accepts all {len(schema_features)} schema features with the right dtype and "
                       f"returns probabilities in [0, 1]", figures, thresholds, rows)


def _median_ms(fn, kwargs, calls: int) -> float:
    for _ in range(2):
        fn(**kwargs)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(**kwargs)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def check_latency(model, schema_features: Mapping[str, str], example: Optional[bytes],
                  cfg: ValidatorConfig) -> CheckResult:
    thresholds = {"median_ms": cfg.latency_budget_ms, "calls": cfg.latency_calls}
    if example is None:
        return CheckResult(c.CHECK_LATENCY, c.FAIL, "no eval example to time", {}, thresholds)
    figures, errors = {}, []
    calls = {features.EXAMPLES_SIGNATURE: lambda: {
        features.EXAMPLES_INPUT: tf.constant([example])},
             features.SERVING_SIGNATURE: lambda: _raw_batch([example], schema_features)[0]}
    for name, make_inputs in calls.items():
        if name not in model.signatures:
            errors.append(f"no {name!r} signature")
            continue
        try:
            figures[f"median_ms_{name}"] = _median_ms(model.signatures[name], make_inputs(),
                                                      cfg.latency_calls)
        except Exception as e:  # pylint: disable=broad-except  # the verdict names the error
            errors.append(f"{name} failed: {type(e).__name__}: {str(e)[:200]}")
    if not figures:
        return CheckResult(c.CHECK_LATENCY, c.FAIL, "; ".join(errors), figures, thresholds)
    worst = max(figures.values())
    figures["median_ms"] = worst
    if errors:
        figures["errors"] = errors
    verdict = c.PASS if worst <= cfg.latency_budget_ms else c.FAIL
    return CheckResult(c.CHECK_LATENCY, verdict,
                       f"median single-example latency {worst:.2f} ms "
                       f"{'<=' if verdict == c.PASS else '>'} {cfg.latency_budget_ms} ms",
                       figures, thresholds)


def saved_model_size_bytes(model_path: str) -> int:
    total = 0
    for root, _, files in tf.io.gfile.walk(model_path):
        for f in files:
            total += tf.io.gfile.stat(os.path.join(root, f)).length
    return total


def check_size(model_path: str, cfg: ValidatorConfig) -> CheckResult:
    size_mb = saved_model_size_bytes(model_path) / 1e6
    verdict = c.PASS if size_mb <= cfg.size_budget_mb else c.FAIL
    return CheckResult(c.CHECK_SIZE, verdict,
                       f"SavedModel is {size_mb:.3f} MB "
                       f"{'<=' if verdict == c.PASS else '>'} {cfg.size_budget_mb} MB",
                       {"size_mb": size_mb}, {"max_size_mb": cfg.size_budget_mb})


# ----------------------------------------------------------------------------------------------


def validate_model(
    model_path: str, file_pattern: str, schema_features: Mapping[str, str], work_dir: str,
    config: Optional[ValidatorConfig] = None, baseline_model_path: Optional[str] = None,
    make_pipeline: Callable[[], beam.Pipeline] = beam.Pipeline) -> ValidationResult:
    """Runs every check; the model is blessed when none FAILs (SKIPPED does not block).

    Args:
      model_path: SavedModel directory of the candidate.
      file_pattern: glob of the gzipped TFRecord files of tf.Example of the eval split.
      schema_features: serving feature name -> dtype name (see serving_features_from_schema).
      work_dir: scratch directory for the Beam output.
      config: thresholds; ValidatorConfig() when None.
      baseline_model_path: SavedModel directory of the baseline, if any.
      make_pipeline: returns a beam.Pipeline (e.g. with the component's beam_pipeline_args).
    """
    cfg = config or ValidatorConfig()
    if not tf.io.gfile.exists(os.path.join(model_path, "saved_model.pb")):
        raise ValueError(f"no SavedModel at {model_path} (saved_model.pb missing)")
    if baseline_model_path and not tf.io.gfile.exists(
        os.path.join(baseline_model_path, "saved_model.pb")):
        raise ValueError(f"no baseline SavedModel at {baseline_model_path} (saved_model.pb missing)")
    model = tf.saved_model.load(model_path)
    sample = read_sample(file_pattern, cfg.signature_sample_size)
    checks = [check_serving_signature(model, schema_features, sample, cfg)]
    data_checks = (c.CHECK_OUTPUT_RANGE, c.CHECK_INVARIANCE, c.CHECK_DIRECTIONAL,
                   c.CHECK_SLICE_RECALL, c.CHECK_SLICE_REGRESSION)
    try:
        # Scoring needs serving_tf_example: try it on the sample before starting the pipeline.
        _, fn = _load_examples_fn(model_path)
        _predict(fn, sample[:2], model_path)
    except Exception as e:  # pylint: disable=broad-except  # reported as failed checks
        reason = (f"not run: {features.EXAMPLES_SIGNATURE} unusable: {type(e).__name__}: "
                  f"{str(e)[:300]}")
        checks += [CheckResult(name, c.FAIL, reason) for name in data_checks]
    else:
        m = compute_behavior_metrics(model_path, file_pattern, work_dir, cfg, baseline_model_path,
                                     make_pipeline)
        checks += [check_output_range(m), check_invariance(m, cfg), check_directional(m, cfg),
                   check_slice_recall(m, cfg),
                   check_slice_regression(m, cfg, baseline_model_path is not None)]
    checks += [check_latency(model, schema_features, sample[0] if sample else None, cfg),
               check_size(model_path, cfg)]
    blessed = all(r.verdict != c.FAIL for r in checks)
    return ValidationResult(blessed, checks, model_path, baseline_model_path, cfg)

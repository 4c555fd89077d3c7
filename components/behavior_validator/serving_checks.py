"""Checks run in the calling process on the loaded SavedModel: serving signature, latency and size
budgets."""
import math
import os
import statistics
import time
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from components.behavior_validator import constants as c
from components.behavior_validator import scoring
from components.behavior_validator.config import BehaviorValidatorConfig
from components.behavior_validator.results import CheckResult

_DEFAULTS = {"string": b"", "int64": 0, "float32": 0.0}


def raw_batch(serialized: Sequence[bytes], spec: Mapping[str, str]):
    """Feature tensors for the raw-feature signature; also whether each example had every feature."""
    columns = {name: [] for name in spec}
    complete = []
    for s in serialized:
        ex = tf.train.Example.FromString(s)
        full = True
        for name, dtype in spec.items():
            v = scoring.feature_values(ex, name)
            if not v:
                full = False
            columns[name].append(v[0] if v else _DEFAULTS[dtype])
        complete.append(full)
    tensors = {name: tf.constant(vals, dtype=tf.as_dtype(spec[name]))
               for name, vals in columns.items()}
    return tensors, complete


def _dtype_name(dtype: tf.DType) -> str:
    return {tf.string: "string", tf.int64: "int64", tf.float32: "float32"}.get(dtype, dtype.name)


def _error(e: Exception, limit: int = 300) -> str:
    return f"{type(e).__name__}: {str(e)[:limit]}"


def _check_raw_inputs(sig, schema_features: Mapping[str, str], rows: list, problems: list) -> None:
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


def _check_raw_call(model, sig, schema_features, sample, cfg: BehaviorValidatorConfig,
                    figures: dict, problems: list) -> None:
    """Calls the raw-feature signature on the sample; compares with the examples signature."""
    tensors, complete = raw_batch(sample, schema_features)
    try:
        preds = np.asarray(sig(**tensors)[cfg.prediction_key].numpy(), dtype=np.float64)
    except Exception as e:  # pylint: disable=broad-except  # the verdict names the error
        problems.append(f"calling {cfg.serving_signature} on {len(sample)} eval examples failed: {_error(e)}")
        return
    figures.update(sample_size=len(sample), sample_min=float(np.min(preds)),
                   sample_max=float(np.max(preds)))
    if preds.shape != (len(sample),):
        problems.append(f"output shape {preds.shape} for {len(sample)} examples")
        return
    if not np.all(np.isfinite(preds)) or preds.min() < 0 or preds.max() > 1:
        problems.append(f"returns values outside [0, 1]: min {preds.min()}, max {preds.max()}")
    full = [s for s, ok in zip(sample, complete) if ok]
    figures["complete_sample_examples"] = len(full)
    if not full or cfg.examples_signature not in model.signatures:
        return
    diff_key = "max_abs_diff_vs_" + cfg.examples_signature
    try:
        other = scoring.predict(model.signatures[cfg.examples_signature], full, "model", cfg)
        diff = float(np.max(np.abs(other - preds[np.array(complete)])))
    except Exception as e:  # pylint: disable=broad-except  # the verdict names the error
        problems.append(f"calling {cfg.examples_signature} failed: {_error(e)}")
        diff = math.nan
    figures[diff_key] = diff
    if not diff <= cfg.signature_consistency_tolerance:
        problems.append(f"{cfg.serving_signature} and {cfg.examples_signature} "
                        f"disagree by {diff:.6g} on the same examples")


def _check_examples_signature(model, cfg: BehaviorValidatorConfig, problems: list) -> None:
    if cfg.examples_signature not in model.signatures:
        problems.append(f"no {cfg.examples_signature!r} signature")
        return
    ex_sig = model.signatures[cfg.examples_signature]
    ex_in = ex_sig.structured_input_signature[1].get(cfg.examples_input)
    ex_out = ex_sig.structured_outputs.get(cfg.prediction_key) \
        if isinstance(ex_sig.structured_outputs, dict) else None
    if ex_in is None or ex_in.dtype != tf.string or ex_in.shape.rank != 1:
        problems.append(f"{cfg.examples_signature}: input {cfg.examples_input!r} must be "
                        f"string [None], got {ex_in}")
    if ex_out is None or ex_out.dtype != tf.float32 or ex_out.shape.rank not in (None, 1):
        problems.append(f"{cfg.examples_signature}: output {cfg.prediction_key!r} must be "
                        f"float32 [None], got {ex_out}")


def check_serving_signature(model, schema_features: Mapping[str, str], sample: Sequence[bytes],
                            cfg: BehaviorValidatorConfig) -> CheckResult:
    """The raw-feature signature takes every serving feature of the schema (dtype, shape [None]) and
    nothing else, returns probabilities, and agrees with the examples signature."""
    thresholds = {"output": f"{cfg.prediction_key} float32 [None] in [0, 1]",
                  "max_abs_diff_vs_" + cfg.examples_signature: cfg.signature_consistency_tolerance}
    problems, rows = [], []
    figures: Dict[str, Any] = {"schema_features": len(schema_features),
                               "signatures": sorted(model.signatures.keys())}
    if cfg.serving_signature not in model.signatures:
        return CheckResult(c.CHECK_SIGNATURE, c.FAIL,
                           f"no {cfg.serving_signature!r} signature", figures, thresholds)
    sig = model.signatures[cfg.serving_signature]
    _check_raw_inputs(sig, schema_features, rows, problems)
    outputs = sig.structured_outputs
    out_spec = outputs.get(cfg.prediction_key) if isinstance(outputs, dict) else None
    if out_spec is None or out_spec.dtype != tf.float32 or out_spec.shape.rank not in (None, 1):
        problems.append(f"output {cfg.prediction_key!r} float32 [None] missing (outputs: {outputs})")
    if not problems and sample:
        _check_raw_call(model, sig, schema_features, sample, cfg, figures, problems)
    _check_examples_signature(model, cfg, problems)
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
                  cfg: BehaviorValidatorConfig) -> CheckResult:
    """Median single-example latency of both signatures; the verdict uses the slower one."""
    thresholds = {"median_ms": cfg.latency_budget_ms, "calls": cfg.latency_calls}
    if example is None:
        return CheckResult(c.CHECK_LATENCY, c.FAIL, "no eval example to time", {}, thresholds)
    figures, errors = {}, []
    calls = {cfg.examples_signature: lambda: {cfg.examples_input: tf.constant([example])},
             cfg.serving_signature: lambda: raw_batch([example], schema_features)[0]}
    for name, make_inputs in calls.items():
        if name not in model.signatures:
            errors.append(f"no {name!r} signature")
            continue
        try:
            figures[f"median_ms_{name}"] = _median_ms(model.signatures[name], make_inputs(),
                                                      cfg.latency_calls)
        except Exception as e:  # pylint: disable=broad-except  # the verdict names the error
            errors.append(f"{name} failed: {_error(e, 200)}")
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


def check_size(model_path: str, cfg: BehaviorValidatorConfig) -> CheckResult:
    size_mb = saved_model_size_bytes(model_path) / 1e6
    verdict = c.PASS if size_mb <= cfg.size_budget_mb else c.FAIL
    return CheckResult(c.CHECK_SIZE, verdict,
                       f"SavedModel is {size_mb:.3f} MB "
                       f"{'<=' if verdict == c.PASS else '>'} {cfg.size_budget_mb} MB",
                       {"size_mb": size_mb}, {"max_size_mb": cfg.size_budget_mb})

"""Beam aggregation of the scored examples: prediction range, invariance, directional and per-slice
confusion figures, written as one JSON document (behavior_metrics.json)."""
import json
import math
import os
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
import tensorflow as tf

from components.behavior_validator import constants as c
from components.behavior_validator import scoring
from components.behavior_validator.config import BehaviorValidatorConfig


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


def _group_counts(acc, group, size):
    counts = acc.get(group)
    if counts is None:
        counts = acc[group] = [0] * size
    return counts


def _merge_group_counts(accs):
    out = {}
    for acc in accs:
        for group, counts in acc.items():
            o = out.get(group)
            out[group] = list(counts) if o is None else [x + y for x, y in zip(o, counts)]
    return out


class DirectionalCombineFn(beam.CombineFn):
    """Per perturbation: examples with the feature present, mean and standard deviation of the
    prediction delta, mean prediction, share lowered; per group, examples and sum of deltas (the
    group-level t-test's input)."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, row):
        for name, d in row["dir"].items():
            a = acc.setdefault(name, [0, 0.0, 0, 0.0, 0.0, {}])  # n, sum, lowered, sum pred, squares, groups
            a[0] += 1
            a[1] += d
            a[2] += int(d < 0)
            a[3] += row["pred"]
            a[4] += d * d
            g = _group_counts(a[5], row["group"], 2)
            g[0] += 1
            g[1] += d
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for name, a in acc.items():
                o = out.setdefault(name, [0, 0.0, 0, 0.0, 0.0, {}])
                for k in range(5):
                    o[k] += a[k]
                o[5] = _merge_group_counts([o[5], a[5]])
        return out

    def extract_output(self, acc):
        out = {}
        for name, (n, total, lowered, preds, squares, groups) in acc.items():
            mean = total / n if n else None
            var = max(0.0, (squares - n * mean * mean) / (n - 1)) if n > 1 else 0.0
            out[name] = {"examples": n, "mean_delta": mean, "std_delta": math.sqrt(var) if n else None,
                         "mean_prediction": preds / n if n else None,
                         "share_lowered": lowered / n if n else None,
                         "groups": {g: {"examples": c[0], "sum_delta": c[1]} for g, c in sorted(groups.items())}}
        return out


class _GroupedCountsCombineFn(beam.CombineFn):
    """Per group, a list of `SIZE` counts (summed across accumulators); `threshold` is the decision
    threshold."""
    SIZE = 0

    def __init__(self, threshold: float):
        self._threshold = threshold

    def create_accumulator(self):
        return {}

    def merge_accumulators(self, accs):
        return _merge_group_counts(accs)

    def add_input(self, acc, row):
        counts = _group_counts(acc, row["group"], self.SIZE)
        for i, v in enumerate(self.counts(row)):
            counts[i] += v
        return acc

    def counts(self, row):
        raise NotImplementedError


class ConfusionCombineFn(_GroupedCountsCombineFn):
    """Examples, positives, true positives (candidate and baseline) at the decision threshold; per group,
    positives and true positives (the recall test's input)."""
    SIZE = 6  # examples, positives, tp, baseline tp, predicted positive, baseline predicted positive

    def counts(self, row):
        positive = row["label"] == 1
        hit = row["pred"] >= self._threshold
        b = row["baseline_pred"]
        baseline_hit = b is not None and b >= self._threshold
        return (1, int(positive), int(positive and hit), int(positive and baseline_hit), int(hit),
                int(baseline_hit))

    def extract_output(self, acc):
        n, pos, tp, btp, pp, bpp = [sum(c[i] for c in acc.values()) for i in range(self.SIZE)]
        return {"examples": n, "positives": pos, "true_positives": tp, "recall": tp / pos if pos else None,
                "baseline_recall": btp / pos if pos else None,
                "predicted_positive_rate": pp / n if n else None,
                "baseline_predicted_positives": bpp,
                "groups": {g: {"positives": c[1], "true_positives": c[2]} for g, c in sorted(acc.items())}}


def matched_threshold(predictions, flagged: int) -> Dict[str, Any]:
    """The candidate's threshold at the baseline's operating point: its `flagged`-th largest finite
    prediction, so that it flags as many examples as the baseline does (ties aside)."""
    finite = sorted((p for p in predictions if math.isfinite(p)), reverse=True)
    threshold = finite[flagged - 1] if 0 < flagged <= len(finite) else math.inf
    return {"threshold": threshold, "baseline_flagged": flagged,
            "candidate_flagged": sum(p >= threshold for p in finite)}


class PairedRecallCombineFn(_GroupedCountsCombineFn):
    """Over the positives of rows annotated with `matched_hit` (candidate at its matched threshold)
    and a baseline prediction, per group: found by both, by the baseline only, by the candidate only,
    by neither."""
    SIZE = 4

    def counts(self, row):
        out = [0, 0, 0, 0]
        if row["label"] == 1:
            base = row["baseline_pred"] >= self._threshold
            out[(0 if base else 2) if row["matched_hit"] else (1 if base else 3)] = 1
        return out

    def extract_output(self, acc):
        both, baseline_only, candidate_only, neither = [sum(c[i] for c in acc.values()) for i in range(4)]
        pos = both + baseline_only + candidate_only + neither
        return {"positives": pos, "both": both, "baseline_only": baseline_only,
                "candidate_only": candidate_only, "neither": neither,
                "recall_at_matched_threshold": (both + candidate_only) / pos if pos else None,
                "baseline_recall": (both + baseline_only) / pos if pos else None,
                "groups": {g: c for g, c in sorted(acc.items()) if any(c)}}


# Score buckets of the AUC test: ties within 1/1000 count 1/2 (TFMA's AUC with 1,000 thresholds
# resolves the same).
AUC_BUCKETS = 1000


class ScoreHistogramCombineFn(beam.CombineFn):
    """Per group, how many positive and negative examples each model scored in each of `buckets`
    equal-width buckets of [0, 1] (the paired AUC test's input). Examples with a non-finite prediction
    of either model are left out (counted in `skipped`)."""

    def __init__(self, buckets: int):
        self._buckets = buckets

    def create_accumulator(self):
        return [{}, 0]

    def _bucket(self, p):
        return min(self._buckets - 1, max(0, int(p * self._buckets)))

    def add_input(self, acc, row):
        p, b = row["pred"], row["baseline_pred"]
        if not (math.isfinite(p) and math.isfinite(b)):
            acc[1] += 1
            return acc
        hist = acc[0].get(row["group"])
        if hist is None:
            hist = acc[0][row["group"]] = np.zeros((4, self._buckets), dtype=np.int64)
        negative = int(row["label"] != 1)
        hist[negative, self._bucket(p)] += 1
        hist[2 + negative, self._bucket(b)] += 1
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for groups, skipped in accs:
            out[1] += skipped
            for g, h in groups.items():
                out[0][g] = out[0][g] + h if g in out[0] else h.copy()
        return out

    def extract_output(self, acc):
        groups = {}
        for g, h in sorted(acc[0].items()):  # sparse: [[bucket, count], ...] per histogram
            groups[g] = {name: [[int(i), int(h[k, i])] for i in np.flatnonzero(h[k])]
                         for k, name in enumerate(c.SCORE_HISTOGRAMS)}
        return {"buckets": self._buckets, "skipped": acc[1], "groups": groups}


class ComputeBehaviorMetrics(beam.PTransform):
    """PCollection of (file name, serialized tf.Example) -> one dict of aggregated figures."""

    def __init__(self, model_path: str, baseline_model_path: Optional[str],
                 config: BehaviorValidatorConfig, feature_dtypes: Mapping[str, str]):
        super().__init__()
        self._model_path = model_path
        self._baseline_model_path = baseline_model_path
        self._config = config
        self._dtypes = dict(feature_dtypes)

    def expand(self, examples):
        threshold = self._config.decision_threshold
        rows = (
            examples
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._config.batch_size)
            | "Score" >> beam.ParDo(scoring.ScoreExamplesDoFn(
                self._model_path, self._baseline_model_path, self._config, self._dtypes)))
        parts = [
            rows | "Range" >> beam.CombineGlobally(PredictionRangeCombineFn())
            | "TagRange" >> beam.Map(lambda v: ("range", v)),
            rows | "Invariance" >> beam.CombineGlobally(InvarianceCombineFn())
            | "TagInvariance" >> beam.Map(lambda v: ("invariance", v)),
            rows | "Directional" >> beam.CombineGlobally(DirectionalCombineFn())
            | "TagDirectional" >> beam.Map(lambda v: ("directional", v)),
            rows | "Overall" >> beam.CombineGlobally(ConfusionCombineFn(threshold))
            | "TagOverall" >> beam.Map(lambda v: ("overall", v)),
            rows | "KeyBySlice" >> beam.Map(lambda r: (r["slice"], r))
            | "PerSlice" >> beam.CombinePerKey(ConfusionCombineFn(threshold))
            | "SlicesToDict" >> beam.combiners.ToDict()
            | "TagSlices" >> beam.Map(lambda v: ("slices", v)),
        ]
        if self._baseline_model_path:
            parts += self._paired_with_baseline(rows, threshold)
        return parts | "Flatten" >> beam.Flatten() | "ToDict" >> beam.combiners.ToDict()

    @staticmethod
    def _paired_with_baseline(rows, threshold: float):
        """The candidate at the baseline's operating point (matched_threshold), per slice and group the
        paired table of the positives found by each model (the slice regression test's input), and per
        group both models' score histograms (the AUC test's input)."""
        flagged = (rows | "BaselineFlagged" >> beam.Map(lambda r: int(r["baseline_pred"] >= threshold))
                   | "CountBaselineFlagged" >> beam.CombineGlobally(sum))
        matched = (rows | "CandidatePredictions" >> beam.Map(lambda r: r["pred"])
                   | "AllPredictions" >> beam.combiners.ToList()
                   | "MatchedThreshold" >> beam.Map(matched_threshold,
                                                    flagged=beam.pvalue.AsSingleton(flagged)))
        paired = (
            rows
            | "MatchedHit" >> beam.Map(lambda r, m: {**r, "matched_hit": r["pred"] >= m["threshold"]},
                                       m=beam.pvalue.AsSingleton(matched))
            | "KeyBySlicePaired" >> beam.Map(lambda r: (r["slice"], r))
            | "PairedPerSlice" >> beam.CombinePerKey(PairedRecallCombineFn(threshold))
            | "PairedToDict" >> beam.combiners.ToDict())
        histograms = rows | "ScoreHistograms" >> beam.CombineGlobally(ScoreHistogramCombineFn(AUC_BUCKETS))
        return [matched | "TagMatched" >> beam.Map(lambda v: ("matched_threshold", v)),
                paired | "TagPaired" >> beam.Map(lambda v: ("paired_slices", v)),
                histograms | "TagHistograms" >> beam.Map(lambda v: ("score_histograms", v))]


def compute_behavior_metrics(
    model_path: str, file_patterns: Union[str, Sequence[str]], work_dir: str, config: BehaviorValidatorConfig,
    feature_dtypes: Mapping[str, str], baseline_model_path: Optional[str] = None,
    make_pipeline: Callable[[], beam.Pipeline] = beam.Pipeline) -> Dict[str, Any]:
    """Runs the Beam pipeline over gzipped TFRecords of tf.Example; returns the aggregated figures
    (also written to work_dir/behavior_metrics.json)."""
    files = scoring.eval_files(file_patterns)
    tf.io.gfile.makedirs(work_dir)
    out_path = os.path.join(work_dir, c.METRICS_FILE_NAME)
    with make_pipeline() as p:
        _ = (p
             | "EvalFiles" >> beam.Create(files)
             | "ReadExamples" >> beam.io.ReadAllFromTFRecord(
                 compression_type=CompressionTypes.GZIP, with_filename=True)
             | "Metrics" >> ComputeBehaviorMetrics(model_path, baseline_model_path, config, feature_dtypes)
             | "ToJson" >> beam.Map(json.dumps, sort_keys=True)
             | "Write" >> beam.io.WriteToText(out_path, shard_name_template="", num_shards=1))
    with tf.io.gfile.GFile(out_path) as f:
        return json.loads(f.read())

"""Dataset-level checks of one dataset's statistics against a baseline's (pure functions, no TFX).

Each check returns findings: dicts {check, feature, value, warn, block, status, detail}, where `status`
is "ok", "warn" or "block" and `value` is the figure the thresholds apply to. They work on any two
`DatasetFeatureStatistics` (a span vs the previous span, serving data vs training data), so they can
run without a pipeline. Duplicates are the exception: statistics cannot tell them (TFDV counts values,
not rows), so `duplicates` takes counts made from the rows themselves (`components.drift_validator.
duplicates`).
"""
import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

OK, WARN, BLOCK = "ok", "warn", "block"
ACTIONS = (WARN, BLOCK, "off")

ROW_COUNT = "row_count"
CATEGORIES_VANISHED = "categories_vanished"
CATEGORIES_APPEARED = "categories_appeared"
MISSING_RATE = "missing_rate"
DUPLICATES = "duplicates"
SCHEMA_RANGE = "schema_range"
CONSTANT = "constant"
ANOMALY = "anomaly"  # findings are named "anomaly:<TFDV anomaly type>"


def _number(value, what: str, low: float = 0.0, high: Optional[float] = None) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
            high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{what}: must be a number in {bound} or null, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Level:
    """Warn above `warn`, block above `block` (either may be None: never). TFDV's rule: value > threshold."""

    warn: Optional[float] = None
    block: Optional[float] = None

    @classmethod
    def parse(cls, value, what: str, high: Optional[float] = 1.0) -> "Level":
        if isinstance(value, Level):
            return value
        if not isinstance(value, Mapping) or set(value) - {"warn", "block"}:
            raise ValueError(f"{what}: expected {{\"warn\": number, \"block\": number}}, got {value!r}")
        return cls(_number(value.get("warn"), f"{what}.warn", high=high),
                   _number(value.get("block"), f"{what}.block", high=high))

    def status(self, value: Optional[float]) -> str:
        if value is None:
            return OK
        if self.block is not None and value > self.block:
            return BLOCK
        if self.warn is not None and value > self.warn:
            return WARN
        return OK


@dataclasses.dataclass(frozen=True)
class Bounds:
    """A ratio must stay inside [low, high]; outside `warn` warns, outside `block` blocks."""

    warn: Optional[Tuple[float, float]] = None
    block: Optional[Tuple[float, float]] = None

    @classmethod
    def parse(cls, value, what: str) -> "Bounds":
        if not isinstance(value, Mapping) or set(value) - {"warn", "block"}:
            raise ValueError(f"{what}: expected {{\"warn\": [low, high], \"block\": [low, high]}}, got {value!r}")

        def pair(key):
            v = value.get(key)
            if v is None:
                return None
            if (not isinstance(v, (list, tuple)) or len(v) != 2
                    or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v) or v[0] > v[1]):
                raise ValueError(f"{what}.{key}: expected [low, high] with low <= high, got {v!r}")
            return (float(v[0]), float(v[1]))
        return cls(pair("warn"), pair("block"))

    def status(self, value: float) -> str:
        if self.block is not None and not self.block[0] <= value <= self.block[1]:
            return BLOCK
        if self.warn is not None and not self.warn[0] <= value <= self.warn[1]:
            return WARN
        return OK


def _action(value, what: str) -> str:
    if value not in ACTIONS:
        raise ValueError(f"{what}: expected one of {list(ACTIONS)}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class DatasetChecks:
    """Which dataset-level checks run and their thresholds; a check left None does not run.

    row_count: Bounds on current rows / baseline rows.
    categories_vanished / categories_appeared: Level on the share of rows carried by the categories
      (of string features) that vanished (baseline share) or appeared (current share); categories
      below `category_min_share` in both are ignored.
    missing_rate: Level on the rise of a feature's missing fraction (current - baseline);
      `missing_rate_features` overrides it per feature.
    duplicates: Level on the share of rows that repeat an earlier row.
    schema_range: action when values lie outside the schema's int/float domain.
    constant: action when a feature that varied in the baseline is constant.
    anomalies: action per TFDV anomaly type (e.g. "ENUM_TYPE_UNEXPECTED_STRING_VALUES"); `anomaly_default`
      for the other types; None: the anomalies are not gated.
    """

    row_count: Optional[Bounds] = None
    categories_vanished: Optional[Level] = None
    categories_appeared: Optional[Level] = None
    category_min_share: float = 0.0
    missing_rate: Optional[Level] = None
    missing_rate_features: Mapping[str, Level] = dataclasses.field(default_factory=dict)
    duplicates: Optional[Level] = None
    schema_range: str = "off"
    constant: str = "off"
    anomalies: Optional[Mapping[str, str]] = None
    anomaly_default: str = BLOCK

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], what: str = "dataset_checks") -> "DatasetChecks":
        if not isinstance(config, Mapping):
            raise ValueError(f"{what}: expected a JSON object, got {config!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"{what}: unknown keys {unknown} (known: {sorted(known)})")
        c = dict(config)
        kwargs: Dict[str, Any] = {}
        if c.get("row_count") is not None:
            kwargs["row_count"] = Bounds.parse(c["row_count"], f"{what}.row_count")
        for key in ("categories_vanished", "categories_appeared", "missing_rate", "duplicates"):
            if c.get(key) is not None:
                kwargs[key] = Level.parse(c[key], f"{what}.{key}")
        kwargs["category_min_share"] = _number(c.get("category_min_share", 0.0),
                                               f"{what}.category_min_share", high=1.0)
        overrides = c.get("missing_rate_features") or {}
        if not isinstance(overrides, Mapping):
            raise ValueError(f"{what}.missing_rate_features: expected an object {{feature: level}}")
        kwargs["missing_rate_features"] = {
            name: Level.parse(v, f"{what}.missing_rate_features[{name!r}]") for name, v in overrides.items()}
        for key in ("schema_range", "constant"):
            kwargs[key] = _action(c.get(key, "off"), f"{what}.{key}")
        if c.get("anomalies") is not None:
            if not isinstance(c["anomalies"], Mapping):
                raise ValueError(f"{what}.anomalies: expected an object {{anomaly type: action}}")
            valid = set(anomalies_pb2.AnomalyInfo.Type.keys())
            for kind, action in c["anomalies"].items():
                if kind not in valid:
                    raise ValueError(f"{what}.anomalies: {kind!r} is not a TFDV anomaly type")
                _action(action, f"{what}.anomalies[{kind!r}]")
            kwargs["anomalies"] = dict(c["anomalies"])
        kwargs["anomaly_default"] = _action(c.get("anomaly_default", BLOCK), f"{what}.anomaly_default")
        return cls(**kwargs)


# ---- reading statistics ---------------------------------------------------------------------------

def feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def features_by_name(dataset: statistics_pb2.DatasetFeatureStatistics) -> Dict[str, Any]:
    return {feature_name(f): f for f in dataset.features}


def common_stats(feature: statistics_pb2.FeatureNameStatistics):
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind in ("num_stats", "string_stats") else None


def missing_fraction(feature, num_examples: int) -> float:
    """Share of examples without a value (1.0 when the feature is absent)."""
    if feature is None or not num_examples:
        return 1.0
    stats = common_stats(feature)
    return float(stats.num_missing) / num_examples if stats is not None else 0.0


def category_counts(feature) -> Dict[str, float]:
    """{value: count} of a string feature, from its rank histogram (all values up to TFDV's bucket limit)."""
    if feature is None or not feature.HasField("string_stats"):
        return {}
    stats = feature.string_stats
    if stats.rank_histogram.buckets:
        return {b.label: float(b.sample_count) for b in stats.rank_histogram.buckets}
    return {v.value: float(v.frequency) for v in stats.top_values}


def standard_histogram(feature):
    if feature is None or not feature.HasField("num_stats"):
        return None
    for histogram in feature.num_stats.histograms:
        if histogram.type == statistics_pb2.Histogram.STANDARD:
            return histogram
    return None


# ---- the checks -----------------------------------------------------------------------------------

def finding(check: str, feature: Optional[str], value, level, status: str, detail: str,
            baseline_value=None) -> Dict[str, Any]:
    warn = block = None
    if isinstance(level, Level):
        warn, block = level.warn, level.block
    elif isinstance(level, Bounds):
        warn, block = level.warn, level.block
    elif level in (WARN, BLOCK):
        warn, block = (True, None) if level == WARN else (None, True)
    return {"check": check, "feature": feature, "value": value, "baseline_value": baseline_value,
            "warn": warn, "block": block, "status": status, "detail": detail}


def row_count(current, baseline, bounds: Bounds) -> List[Dict[str, Any]]:
    ratio = current.num_examples / baseline.num_examples if baseline.num_examples else float("inf")
    return [finding(ROW_COUNT, None, ratio, bounds, bounds.status(ratio),
                    f"{current.num_examples} rows vs {baseline.num_examples} in the baseline "
                    f"(ratio {ratio:.3f})", baseline_value=1.0)]


def categories(current, baseline, schema: schema_pb2.Schema, vanished: Optional[Level],
               appeared: Optional[Level], min_share: float) -> List[Dict[str, Any]]:
    """Per string feature of the schema: share of rows in categories that vanished / appeared."""
    result = []
    cur, base = features_by_name(current), features_by_name(baseline)
    for feature in schema.feature:
        if feature.type != schema_pb2.BYTES or feature.name not in cur or feature.name not in base:
            continue
        now, before = category_counts(cur[feature.name]), category_counts(base[feature.name])
        total_now, total_before = sum(now.values()) or 1.0, sum(before.values()) or 1.0
        for check, level, here, there, total in (
                (CATEGORIES_VANISHED, vanished, before, now, total_before),
                (CATEGORIES_APPEARED, appeared, now, before, total_now)):
            if level is None:
                continue
            gone = {k: v / total for k, v in here.items() if k not in there and v / total >= min_share}
            share = sum(gone.values())
            top = sorted(gone, key=gone.get, reverse=True)
            names = ", ".join(f"{k} ({gone[k]:.1%})" for k in top[:12]) + (" ..." if len(top) > 12 else "")
            verb = "vanished" if check == CATEGORIES_VANISHED else "appeared"
            detail = (f"{len(gone)} value(s) {verb}, carrying {share:.1%} of the "
                      f"{'baseline' if check == CATEGORIES_VANISHED else 'current'} rows: {names}"
                      if gone else f"no value {verb}")
            result.append(finding(check, feature.name, share, level, level.status(share), detail))
    return result


def missing_rate(current, baseline, default: Optional[Level],
                 per_feature: Mapping[str, Level]) -> List[Dict[str, Any]]:
    """Rise of each feature's missing fraction (features of either dataset)."""
    result = []
    cur, base = features_by_name(current), features_by_name(baseline)
    for name in sorted(set(cur) | set(base)):
        level = per_feature.get(name, default)
        if level is None:
            continue
        now = missing_fraction(cur.get(name), current.num_examples)
        before = missing_fraction(base.get(name), baseline.num_examples)
        rise = now - before
        detail = (f"missing in {now:.1%} of the rows vs {before:.1%} in the baseline"
                  + (" (feature absent)" if name not in cur else ""))
        result.append(finding(MISSING_RATE, name, rise, level, level.status(rise), detail,
                              baseline_value=before))
    return result


def duplicates(num_rows: int, num_duplicates: int, level: Level) -> List[Dict[str, Any]]:
    share = num_duplicates / num_rows if num_rows else 0.0
    return [finding(DUPLICATES, None, share, level, level.status(share),
                    f"{num_duplicates} of {num_rows} rows repeat an earlier row ({share:.2%})")]


def _domain(feature: schema_pb2.Feature) -> Optional[Tuple[float, float]]:
    domain = feature.int_domain if feature.HasField("int_domain") else (
        feature.float_domain if feature.HasField("float_domain") else None)
    if domain is None or not (domain.HasField("min") or domain.HasField("max")):
        return None
    return (domain.min if domain.HasField("min") else float("-inf"),
            domain.max if domain.HasField("max") else float("inf"))


def out_of_range_share(feature, low: float, high: float) -> float:
    """Estimated share of a numeric feature's values outside [low, high] (uniform within histogram buckets)."""
    histogram = standard_histogram(feature)
    if histogram is None:
        return 0.0
    total = sum(b.sample_count for b in histogram.buckets) or 1.0
    outside = 0.0
    for b in histogram.buckets:
        width = b.high_value - b.low_value
        if width <= 0:
            outside += b.sample_count * (not low <= b.low_value <= high)
            continue
        inside = max(0.0, min(b.high_value, high) - max(b.low_value, low)) / width
        outside += b.sample_count * (1.0 - inside)
    return outside / total


def schema_range(current, schema: schema_pb2.Schema, action: str) -> List[Dict[str, Any]]:
    """Numeric features whose min/max lie outside the schema's int/float domain."""
    result = []
    cur = features_by_name(current)
    for feature in schema.feature:
        domain = _domain(feature)
        stats = cur.get(feature.name)
        if domain is None or stats is None or not stats.HasField("num_stats"):
            continue
        low, high = domain
        minimum, maximum = stats.num_stats.min, stats.num_stats.max
        if stats.num_stats.common_stats.num_non_missing == 0 or low <= minimum and maximum <= high:
            continue
        share = out_of_range_share(stats, low, high)
        result.append(finding(SCHEMA_RANGE, feature.name, share, action, action,
                              f"values in [{minimum:g}, {maximum:g}] outside the schema's [{low:g}, {high:g}] "
                              f"(about {share:.1%} of the values)"))
    return result


def _spread(feature) -> Optional[float]:
    """Standard deviation of a numeric feature, number of distinct values - 1 of a string one."""
    if feature is None:
        return None
    if feature.HasField("num_stats"):
        return feature.num_stats.std_dev if feature.num_stats.common_stats.num_non_missing else None
    if feature.HasField("string_stats"):
        return float(feature.string_stats.unique - 1) if feature.string_stats.common_stats.num_non_missing else None
    return None


def constant(current, baseline, action: str) -> List[Dict[str, Any]]:
    """Features that varied in the baseline and hold a single value in the current dataset."""
    result = []
    cur, base = features_by_name(current), features_by_name(baseline)
    for name in sorted(set(cur) & set(base)):
        now, before = _spread(cur[name]), _spread(base[name])
        if now == 0 and before:
            value = (cur[name].num_stats.min if cur[name].HasField("num_stats")
                     else (category_counts(cur[name]) or {"?": 0}).popitem()[0])
            result.append(finding(CONSTANT, name, 0.0, action, action,
                                  f"constant ({value!r}) where the baseline varied "
                                  f"({'std' if cur[name].HasField('num_stats') else 'distinct values - 1'} "
                                  f"{before:g})", baseline_value=before))
    return result


def anomaly_findings(anomalies: anomalies_pb2.Anomalies, actions: Mapping[str, str],
                     default: str) -> List[Dict[str, Any]]:
    """ExampleValidator's (or tfdv.validate_statistics') anomalies, one finding per feature and type."""
    result = []
    infos = [(name, info) for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        infos.append((None, anomalies.dataset_anomaly_info))
    for name, info in infos:
        for reason in info.reason:
            kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
            action = actions.get(kind, default)
            if action == "off":
                continue
            result.append(finding(f"{ANOMALY}:{kind}", name, None, action, action,
                                  reason.description or reason.short_description))
    return result


def run(current: statistics_pb2.DatasetFeatureStatistics,
        baseline: Optional[statistics_pb2.DatasetFeatureStatistics],
        schema: schema_pb2.Schema, config: DatasetChecks,
        anomalies: Optional[anomalies_pb2.Anomalies] = None,
        duplicate_counts: Optional[Tuple[int, int]] = None) -> List[Dict[str, Any]]:
    """Every configured check; those needing a baseline are skipped without one.

    duplicate_counts: (rows, duplicated rows) of the current data, when counted (see module doc).
    """
    found: List[Dict[str, Any]] = []
    if baseline is not None:
        if config.row_count is not None:
            found += row_count(current, baseline, config.row_count)
        if config.categories_vanished is not None or config.categories_appeared is not None:
            found += categories(current, baseline, schema, config.categories_vanished,
                                config.categories_appeared, config.category_min_share)
        if config.missing_rate is not None or config.missing_rate_features:
            found += missing_rate(current, baseline, config.missing_rate, config.missing_rate_features)
        if config.constant != "off":
            found += constant(current, baseline, config.constant)
    if config.duplicates is not None and duplicate_counts is not None:
        found += duplicates(*duplicate_counts, config.duplicates)
    if config.schema_range != "off":
        found += schema_range(current, schema, config.schema_range)
    if config.anomalies is not None and anomalies is not None:
        found += anomaly_findings(anomalies, config.anomalies, config.anomaly_default)
    return found


def names(findings: Sequence[Mapping[str, Any]], status: str) -> List[str]:
    """"check:feature" (or "check") of the findings with this status."""
    return [f"{f['check']}:{f['feature']}" if f["feature"] else f["check"]
            for f in findings if f["status"] == status]

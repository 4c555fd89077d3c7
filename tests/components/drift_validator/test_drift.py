"""Pure drift logic on checked-in statistics fixtures (no TFX involved)."""
import collections
import dataclasses
import html.parser
import json
import os
import subprocess
import sys

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.drift_validator import constants, drift, report_html

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def load(name):
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    with open(os.path.join(FIXTURES, f"{name}.pb"), "rb") as f:
        stats.ParseFromString(f.read())
    return stats


@pytest.fixture(scope="module")
def schema():
    return tfdv.load_schema_text(os.path.join(FIXTURES, "schema.pbtxt"))


@pytest.fixture(scope="module")
def base():
    return load("base")


# Number thresholds (blocking per `blocking_features`) as the flight pipeline had them before the
# warn/block calibration: tests of the mechanism, independent of pipeline/dag/configs.py.
THRESHOLDS = {"carrier": 0.1, "origin": 0.1, "dest": 0.1, "distance": 0.1, "sched_dep_hour": 0.1,
              "sched_arr_hour": 0.1, "day": 0.1, "day_of_week": 0.05, "flight": 0.1, "sched_dep_minute": 0.05,
              **{w: 0.3 for w in ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
                                  "pressure", "visib")}}
BLOCKING = frozenset({"carrier", "origin", "dest", "distance", "sched_dep_hour", "sched_arr_hour"})
DEFAULT = drift.DriftConfig(THRESHOLDS, BLOCKING, label_key="late", label_shift_threshold=0.2)


def by_feature(report):
    return {f["feature"]: f for f in report["features"]}


def stats_feature(stats, name):
    return next(f for f in stats.datasets[0].features if f.path.step[0] == name)


def l_infinity(current, baseline, name):
    """L-infinity between the value frequencies of a string feature, from the rank histograms."""
    def freqs(stats):
        buckets = stats_feature(stats, name).string_stats.rank_histogram.buckets
        total = sum(b.sample_count for b in buckets)
        return {b.label: b.sample_count / total for b in buckets}
    a, b = freqs(current), freqs(baseline)
    return max(abs(a.get(k, 0) - b.get(k, 0)) for k in set(a) | set(b))


def test_no_baseline_passes(base, schema):
    report = drift.validate_drift(base, None, schema, DEFAULT)
    assert report["verdict"] == constants.NO_BASELINE
    assert report["blessed"] == 1
    assert "no baseline" in report["summary"].lower()
    assert report["has_baseline"] is False
    assert {f["status"] for f in report["features"]} == {"no_baseline"}
    assert report["label"]["current_rate"] == pytest.approx(stats_feature(base, "late").num_stats.mean)


def test_same_distribution_passes_with_every_distance_reported(base, schema):
    report = drift.validate_drift(load("same"), base, schema, DEFAULT)
    assert report["verdict"] == constants.PASS, report["summary"]
    assert report["blessed"] == 1
    assert report["drifted_features"] == []
    features = by_feature(report)
    assert set(features) == set(THRESHOLDS)
    for f in features.values():
        assert f["status"] == "ok"
        assert 0 <= f["distance"] <= f["threshold"]
    assert features["carrier"]["comparator"] == drift.L_INFTY
    assert features["temp"]["comparator"] == drift.JSD
    # Sampling noise is measured, not reported as zero.
    assert features["carrier"]["distance"] > 0


def test_blocking_feature_drift_blocks_and_names_the_feature(base, schema):
    current = load("drift_carrier")
    report = drift.validate_drift(current, base, schema, DEFAULT)
    assert report["verdict"] == constants.BLOCKED
    assert report["blessed"] == 0
    assert report["blocking_drift"] == ["carrier"]
    assert report["drifted_features"] == ["carrier"]
    carrier = by_feature(report)["carrier"]
    assert carrier["status"] == "block"
    # The distance is TFDV's L-infinity, the same as computed by hand from the two histograms.
    assert carrier["distance"] == pytest.approx(l_infinity(current, base, "carrier"), abs=1e-9)
    assert carrier["distance"] > DEFAULT.feature_thresholds["carrier"]
    assert "Linfty" in carrier["description"]
    assert "carrier" in report["summary"]


def test_same_drift_only_warns_when_feature_is_not_blocking(base, schema):
    config = dataclasses.replace(DEFAULT, blocking_features=frozenset(DEFAULT.blocking_features) - {"carrier"})
    report = drift.validate_drift(load("drift_carrier"), base, schema, config)
    assert report["verdict"] == constants.WARN
    assert report["blessed"] == 1
    assert report["warning_drift"] == ["carrier"]
    assert report["blocking_drift"] == []


def test_warn_only_feature_drift_is_blessed_with_warning(base, schema):
    report = drift.validate_drift(load("drift_weather"), base, schema, DEFAULT)
    assert "temp" not in DEFAULT.blocking_features
    assert report["verdict"] == constants.WARN
    assert report["blessed"] == 1
    assert report["warning_drift"] == ["temp"]
    assert by_feature(report)["temp"]["status"] == "warn"
    assert "temp" in report["summary"]


def test_label_shift_blocks(base, schema):
    current = load("label_shift")
    report = drift.validate_drift(current, base, schema, DEFAULT)
    assert report["verdict"] == constants.BLOCKED
    assert report["blessed"] == 0
    assert report["blocking_drift"] == []  # no feature drifted: the label did
    label = report["label"]
    expected = abs(stats_feature(current, "late").num_stats.mean - stats_feature(base, "late").num_stats.mean)
    assert label["abs_change"] == pytest.approx(expected)
    assert label["abs_change"] > DEFAULT.label_shift_threshold
    assert label["drifted"] is True
    assert "late" in report["summary"]


def test_label_check_can_be_disabled(base, schema):
    config = dataclasses.replace(DEFAULT, label_key="")
    report = drift.validate_drift(load("label_shift"), base, schema, config)
    assert report["verdict"] == constants.PASS
    assert report["label"] is None


def test_threshold_is_exclusive_like_tfdv(base, schema):
    measured = by_feature(drift.validate_drift(load("drift_carrier"), base, schema, DEFAULT))["carrier"]["distance"]
    at = drift.DriftConfig({"carrier": measured}, frozenset({"carrier"}), label_key="")
    below = drift.DriftConfig({"carrier": measured - 1e-6}, frozenset({"carrier"}), label_key="")
    assert drift.validate_drift(load("drift_carrier"), base, schema, at)["blessed"] == 1
    assert drift.validate_drift(load("drift_carrier"), base, schema, below)["blessed"] == 0


def test_blocking_feature_missing_from_current_span_blocks(base, schema):
    current = load("same")
    features = current.datasets[0].features
    index = next(i for i, f in enumerate(features) if f.path.step[0] == "origin")
    del features[index]
    report = drift.validate_drift(current, base, schema, DEFAULT)
    assert report["blessed"] == 0
    assert report["blocking_drift"] == ["origin"]
    assert by_feature(report)["origin"]["status"] == "not_measured"


def test_configured_comparators_replace_those_of_the_schema(schema):
    config = drift.DriftConfig({"carrier": 0.2, "temp": 0.3})
    with_comparators = drift.drift_schema(schema, config)
    compared = {f.name for f in with_comparators.feature
                if f.HasField("drift_comparator") or f.HasField("skew_comparator")}
    assert compared == {"carrier", "temp"}
    assert tfdv.get_feature(with_comparators, "carrier").drift_comparator.infinity_norm.threshold == 0.2
    assert tfdv.get_feature(with_comparators, "temp").drift_comparator.jensen_shannon_divergence.threshold == 0.3
    assert not tfdv.get_feature(schema, "carrier").HasField("drift_comparator")  # input untouched


@pytest.mark.parametrize("thresholds, blocking, message", [
    ('{"nope": 0.1}', "[]", "not in the schema: ['nope']"),
    ('{"carrier": 2}', "[]", "feature_thresholds['carrier']"),
    ('{"carrier": "x"}', "[]", "feature_thresholds['carrier']"),
    ('["carrier"]', "[]", "must be a JSON object"),
    ("{carrier: 0.1}", "[]", "not valid JSON"),
    ('{"carrier": 0.1}', '["origin"]', "blocking_features: ['origin']"),
    ('{"carrier": 0.1}', '"carrier"', "must be a JSON list"),
])
def test_bad_parameters_are_named(base, schema, thresholds, blocking, message):
    with pytest.raises(ValueError) as err:
        config = drift.DriftConfig.from_json(thresholds, blocking)
        drift.validate_drift(load("same"), base, schema, config)
    assert message in str(err.value)


def test_missing_label_is_a_clear_error(base, schema):
    config = drift.DriftConfig({"carrier": 0.1}, label_key="arrived_late")
    with pytest.raises(ValueError, match="label 'arrived_late' not found"):
        drift.validate_drift(load("same"), base, schema, config)


def test_report_files(base, schema, tmp_path):
    report = drift.validate_drift(load("drift_carrier"), base, schema, DEFAULT)
    json_path, html_path = drift.write_report(report, str(tmp_path / "out"))
    with open(json_path) as f:
        assert json.load(f) == json.loads(json.dumps(report))
    with open(html_path) as f:
        page = f.read()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http" not in page  # self-contained
    assert "BLOCKED (blessed=0)" in page
    parser = _TagCounter()
    parser.feed(page)
    parser.close()
    assert parser.unclosed == []
    # one header row per table (what fired, label, features); a row per fired item, per feature, the label
    assert report_html.fired(report)[0]["feature"] == "carrier"
    assert parser.counts["tr"] == 3 + len(report_html.fired(report)) + len(report["features"]) + 1
    carrier_row = next(line for line in page.splitlines() if line.startswith("<tr class='block'><td>carrier</td>"))
    assert f"{by_feature(report)['carrier']['distance']:.4f}" in carrier_row
    # the blocking feature is drawn: one bar pair per category, baseline and current
    assert set(report["pictures"]) == {"carrier"}
    assert parser.counts["svg"] == 1
    assert parser.counts["rect"] == 2 + 2 * len(report["pictures"]["carrier"]["labels"])


class _TagCounter(html.parser.HTMLParser):
    """Counts start tags and checks that table tags are closed in order."""
    VOID = {"meta", "br"}

    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()
        self.unclosed = []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] += 1
        if tag not in self.VOID:
            self.unclosed.append(tag)

    def handle_endtag(self, tag):
        assert self.unclosed and self.unclosed[-1] == tag, (tag, self.unclosed)
        self.unclosed.pop()


def test_logic_module_does_not_import_tfx():
    code = ("import sys, components.drift_validator.drift; "
            "loaded = [m for m in sys.modules if m == 'tfx' or m.startswith('tfx.')]; "
            "assert not loaded, loaded")
    env = dict(os.environ, PYTHONPATH=REPO)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env, timeout=300)


def _fixture_span_stats(span):
    import pandas as pd  # pylint: disable=import-outside-toplevel
    from data import contract  # pylint: disable=import-outside-toplevel
    path = os.path.join(REPO, "tests", "fixtures", "spans", f"span-{span}", "flights.csv")
    frame = pd.read_csv(path, dtype={c: "float32" for c in contract.WEATHER_FEATURES})
    return tfdv.generate_statistics_from_dataframe(frame)


def test_number_thresholds_with_curated_schema_pass_adjacent_real_months():
    """Number thresholds on the real 1,500-row fixture spans (Jan, Feb, Mar 2013) and the curated
    schema: normal month-to-month change must not stop training."""
    curated = tfdv.load_schema_text(os.path.join(REPO, "data", "schema", "schema.pbtxt"))
    stats = {span: _fixture_span_stats(span) for span in (1, 2, 3)}
    for span in (2, 3):
        report = drift.validate_drift(stats[span], stats[span - 1], curated, DEFAULT)
        assert report["blessed"] == 1, report["summary"]
        assert all(f["distance"] is not None for f in report["features"])
        assert by_feature(report)["carrier"]["comparator"] == drift.L_INFTY
    # ...while a broken span (all flights of one carrier relabelled) is stopped.
    broken = statistics_pb2.DatasetFeatureStatisticsList()
    broken.CopyFrom(stats[3])
    carrier = next(f for f in broken.datasets[0].features if f.path.step[0] == "carrier")
    top = carrier.string_stats.rank_histogram.buckets[0]
    for value in carrier.string_stats.top_values:
        if value.value == top.label:
            value.value = "ZZ"
    top.label = "ZZ"
    report = drift.validate_drift(broken, stats[2], curated, DEFAULT)
    assert report["blessed"] == 0 and report["blocking_drift"] == ["carrier"]

"""The flight policy of pipeline/dag/configs.py on real data: 10% samples of the real 2013 months.

Every real adjacent-month pair passes without a block; every kind of the corruption catalogue
(corruptions.py) blocks, naming its check(s) and feature(s); the same checks compare serving data
with training statistics (skew).
"""
import pytest
import tensorflow_data_validation as tfdv

from components.drift_validator import drift
from pipeline.tools import drift_calibration as cal
from tests.components.drift_validator.corruptions import CORRUPTIONS, blocking_findings

SAMPLE = 0.1  # ~2,500-2,900 rows per month


@pytest.fixture(scope="module")
def schema():
    return tfdv.load_schema_text(cal.SCHEMA_PATH)


@pytest.fixture(scope="module")
def config():
    return cal.flight_drift_config()


def test_every_real_month_to_month_transition_passes():
    reports = cal.transitions(sample=SAMPLE)
    assert [r["transition"] for r in reports] == [f"{n}->{n + 1}" for n in range(1, 12)]
    blocked = {r["transition"]: r["blocking"] for r in reports if r["blocking"]}
    assert blocked == {}
    assert all(r["blessed"] == 1 for r in reports)
    # every compared feature and check was measured: a pass is not a check that did not run
    assert all(f["distance"] is not None for r in reports for f in r["features"])
    assert {c["check"] for c in reports[0]["checks"]} >= {
        "row_count", "categories_vanished", "categories_appeared", "missing_rate", "duplicates"}


@pytest.fixture(scope="module")
def months():
    """(baseline frame and statistics, current frame): 10% samples of May and June 2013."""
    baseline = cal.read_frame(cal.DATA_ROOT, 5).sample(frac=SAMPLE, random_state=5)
    current = cal.read_frame(cal.DATA_ROOT, 6).sample(frac=SAMPLE, random_state=6)
    return baseline, cal.statistics_of(baseline), current


def validate(frame, baseline_stats, schema, config):
    stats = cal.statistics_of(frame)
    # ExampleValidator's anomalies are exactly this call on the span's statistics and the schema.
    return drift.validate_drift(stats, baseline_stats, schema, config,
                                anomalies=tfdv.validate_statistics(stats, schema),
                                duplicate_counts=cal.duplicate_counts(frame))


def test_the_uncorrupted_sample_passes(months, schema, config):
    _, baseline_stats, current = months
    report = validate(current, baseline_stats, schema, config)
    assert report["blessed"] == 1 and report["blocking"] == [], report["summary"]


def test_the_catalogue_has_at_least_ten_kinds():
    assert len(CORRUPTIONS) >= 10


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_every_corruption_kind_blocks_naming_check_and_feature(kind, months, schema, config):
    _, baseline_stats, current = months
    corruption = CORRUPTIONS[kind]
    frame = corruption.corrupt(current)
    report = validate(frame, baseline_stats, schema, config)
    assert report["blessed"] == 0 and report["verdict"] == "BLOCKED"
    missing = set(corruption.expected) - set(report["blocking"])
    assert not missing, (kind, report["blocking"])
    assert set(corruption.expected) <= set(blocking_findings(report))
    # the summary and the page name the check and the feature; the feature is drawn
    page = drift.render_html(report)
    for name in corruption.expected:
        check, _, feature = name.partition(":")
        assert check in report["summary"] or feature in report["summary"]
        assert f"<td>{check}" in page
        if feature:
            assert feature in report["pictures"], (kind, sorted(report["pictures"]))
            assert f"<h3>{feature}</h3>" in page


def test_skew_serving_data_vs_training_statistics(months, schema, config):
    baseline, baseline_stats, _ = months
    serving = cal.read_frame(cal.DATA_ROOT, 5).drop(baseline.index).sample(frac=SAMPLE, random_state=7)
    serving = serving.drop(columns=[config.label_key])  # requests carry no label
    clean = drift.validate_skew(cal.statistics_of(serving), baseline_stats, schema, config)
    assert clean["blessed"] == 1 and clean["blocking"] == [], clean["summary"]
    assert clean["label"] is None
    assert "row_count" not in {c["check"] for c in clean["checks"]}  # serving volume is its own
    broken = drift.validate_skew(cal.statistics_of(CORRUPTIONS["unit_f_to_c"].corrupt(serving)),
                                 baseline_stats, schema, config)
    assert broken["blessed"] == 0
    assert {"distribution:temp", "distribution:dewp"} <= set(broken["blocking"])
    assert broken["summary"].startswith("Skew (serving vs training): Blocked")

"""The report page: what fired, pictures of the baseline and current distributions."""
from components.drift_validator import report_html


def report(**extra):
    base = {"verdict": "BLOCKED", "blessed": 0, "summary": "Blocked: x.", "num_examples": 50,
            "baseline_num_examples": 100, "component_version": "t", "created_utc": "now",
            "features": [{"feature": "size", "comparator": "JENSEN_SHANNON_DIVERGENCE", "distance": 0.9,
                          "warn_threshold": 0.1, "block_threshold": 0.5, "blocking": True, "status": "block",
                          "description": "JSD high"}],
            "label": None,
            "checks": [{"check": "row_count", "feature": None, "value": 0.5, "baseline_value": 1.0,
                        "warn": (0.9, 1.1), "block": (0.7, 1.4), "status": "block", "detail": "50 rows vs 100"},
                       {"check": "missing_rate", "feature": "kind", "value": 0.0, "baseline_value": 0.0,
                        "warn": 0.05, "block": 0.2, "status": "ok", "detail": "ok"}],
            "pictures": {"size": {"kind": "numeric", "edges": [0, 1, 2, 3], "baseline": [0.5, 0.5, 0.0],
                                  "current": [0.0, 0.2, 0.8]}}}
    base.update(extra)
    return base


def test_fired_lists_the_blocking_items_first():
    items = report_html.fired(report())
    assert [(i["check"], i["feature"]) for i in items] == [
        ("distribution (JENSEN_SHANNON_DIVERGENCE)", "size"), ("row_count", None)]


def test_page_draws_every_fired_feature_and_the_row_count():
    page = report_html.render(report())
    assert "<h3>size</h3>" in page and "<h3>dataset</h3>" in page
    assert page.count("<svg") == 2  # the histogram of size, the row-count bars
    assert "100 rows" in page and "50 rows" in page
    assert "<h3>kind</h3>" not in page  # an ok check draws nothing


def test_numeric_picture_has_a_bar_per_bin_and_series():
    svg = report_html.svg_numeric({"edges": [0, 1, 2, 3], "baseline": [0.5, 0.5, 0.0], "current": [0.0, 0.2, 0.8]})
    assert svg.count("<rect") == 2 + 2 * 3  # legend + 3 bins x 2 series
    assert 'height="0.0"' in svg  # an empty bin is drawn flat


def test_categorical_picture_labels_every_category():
    svg = report_html.svg_categorical({"labels": ["a", "<b>"], "baseline": [0.6, 0.4], "current": [1.0, 0.0],
                                       "other_categories": 3})
    assert ">a<" in svg and "&lt;b&gt;" in svg
    assert "40.0% → 0.0%" in svg and "3 smaller categories" in svg


def test_a_passing_report_has_no_fired_section():
    page = report_html.render(report(verdict="PASS", blessed=1, features=[], checks=[], pictures={}))
    assert "What fired" not in page and "<svg" not in page

"""report.json (strict JSON) and the self-contained report.html."""
import json

import pytest

from components.behavior_validator import constants as c
from components.behavior_validator import report
from components.behavior_validator import results
from tests.components.behavior_validator import testdata


def test_report_lists_every_check(run, tmp_path):
    result = run(testdata.FLIGHT_SENSITIVE)
    report.write_report(result, str(tmp_path))
    data = json.loads((tmp_path / c.REPORT_JSON_FILE_NAME).read_text())
    assert data["blessed"] is False and data["failed_checks"] == [c.CHECK_INVARIANCE]
    assert data["behavior_checks_passed"] is False
    assert [ch["name"] for ch in data["checks"]] == list(c.CHECK_NAMES)
    assert all(ch["thresholds"] for ch in data["checks"])
    page = (tmp_path / c.REPORT_HTML_FILE_NAME).read_text()
    assert "NOT_BLESSED" in page and "<script" not in page and "http" not in page
    for ch in result.checks:
        assert f'id="{ch.name}"' in page
        assert f'{ch.name}: <span class="{ch.verdict}">' in page


def test_non_finite_figures_stay_strict_json(run, tmp_path):
    report.write_report(run(testdata.NAN_FOR_HIGH_FLIGHTS), str(tmp_path))
    text = (tmp_path / c.REPORT_JSON_FILE_NAME).read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    assert '"inf"' in text


def test_report_tells_behaviour_checks_from_the_upstream_blessing(run, tmp_path):
    result = results.require_upstream_blessing(run(testdata.GOOD), "/evaluator/blessing/1", False)
    report.write_report(result, str(tmp_path))
    data = json.loads((tmp_path / c.REPORT_JSON_FILE_NAME).read_text())
    assert data["behavior_checks_passed"] is True and data["blessed"] is False
    assert data["failed_checks"] == [c.CHECK_UPSTREAM_BLESSING]
    assert "Behaviour checks: passed" in (tmp_path / c.REPORT_HTML_FILE_NAME).read_text()


def test_report_shows_the_intervals_and_decisions_read_them_back(run, tmp_path):
    """The run summary's view: the AUC test against the baseline and each failed test, with its 95%
    interval and Holm-adjusted p, read back from report.json."""
    result = run(testdata.WEAK_ON_UA, baseline=testdata.GOOD)
    report.write_report(result, str(tmp_path))
    decided = report.read_decisions(str(tmp_path))
    auc = decided[c.CHECK_AUC_REGRESSION]
    figures = result.check(c.CHECK_AUC_REGRESSION).figures
    assert auc["verdict"] == result.check(c.CHECK_AUC_REGRESSION).verdict
    assert (auc["auc_drop"], auc["drop_ci95"], auc["groups"]) == (
        figures["auc_drop"], figures["drop_ci95"], figures["groups"])
    assert auc["max_auc_drop"] == result.config.auc_regression_tolerance
    [failed] = [t for t in decided["failed_tests"] if t["check"] == c.CHECK_SLICE_REGRESSION]
    ua = next(r for r in result.check(c.CHECK_SLICE_REGRESSION).rows if r["carrier"] == "UA")
    assert failed == {"check": c.CHECK_SLICE_REGRESSION, "on": "carrier UA", "recall_drop": ua["recall_drop"],
                      "ci95": ua["drop_ci95"], "p_adjusted": ua["p_adjusted"], "groups": ua["groups"]}
    page = (tmp_path / c.REPORT_HTML_FILE_NAME).read_text()
    low, high = ua["drop_ci95"]
    assert f"[{report._fmt(low)}, {report._fmt(high)}]" in page
    assert "resamples or aggregates whole groups of <code>month/day</code>" in page

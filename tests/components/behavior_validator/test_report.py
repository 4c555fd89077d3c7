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

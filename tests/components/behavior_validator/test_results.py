"""What `blessed` and `behavior_checks_passed` of a ValidationResult mean."""
from components.behavior_validator import constants as c
from components.behavior_validator import results
from tests.components.behavior_validator import testdata


def _result(*verdicts):
    return results.ValidationResult(
        [results.CheckResult(f"check{i}", v, "") for i, v in enumerate(verdicts)], "/m", None,
        testdata.config())


def test_skipped_does_not_block_and_failed_does():
    assert _result(c.PASS, c.SKIPPED).behavior_checks_passed
    failed = _result(c.PASS, c.FAIL)
    assert not failed.behavior_checks_passed and not failed.blessed
    assert failed.failed_checks == ["check1"]


def test_upstream_blessing_is_required_by_blessed_only():
    passed = _result(c.PASS)
    for upstream, blessed in ((True, True), (False, False)):
        r = results.require_upstream_blessing(passed, "/evaluator/blessing", upstream)
        assert r.behavior_checks_passed is True
        assert r.blessed is blessed
        assert r.check(c.CHECK_UPSTREAM_BLESSING).verdict == (c.PASS if upstream else c.FAIL)
    failed = results.require_upstream_blessing(_result(c.FAIL), "/evaluator/blessing", True)
    assert not failed.blessed and failed.failed_checks == ["check0"]

"""Decay decisions on labelled answers with known structure: an A/A window passes, a real drop alerts, one bad
day does not page, too few days never alert; the AUC is the rank statistic sklearn computes."""
import numpy as np
import pytest

from pipeline.dag import configs
from pipeline.monitor import checks


def scored(days=28, per_day=60, separation=1.0, seed=0, flip_days=()):
    """Labels with a day effect (a day's late rate varies) and scores that separate them by `separation`."""
    rng = np.random.default_rng(seed)
    labels, scores, keys = [], [], []
    for d in range(days):
        rate = rng.uniform(0.1, 0.4)
        y = (rng.random(per_day) < rate).astype("int64")
        s = 1 / (1 + np.exp(-(separation * (2 * y - 1) + rng.normal(0, 1.2, per_day))))
        if d in flip_days:
            y = 1 - y
        labels.append(y)
        scores.append(s)
        keys.append(np.full(per_day, 200 + d + 1))
    return checks.Scored(np.concatenate(labels), np.concatenate(scores), np.concatenate(keys))


REFERENCE = scored(days=6, per_day=150, seed=1)


def test_auc_is_the_rank_statistic():
    from sklearn.metrics import roc_auc_score
    s = scored(seed=3)
    assert checks.auc(s.labels, s.scores) == pytest.approx(roc_auc_score(s.labels, s.scores))
    assert checks.auc(np.zeros(5, dtype=int), np.arange(5.0)) is None


def test_a_window_like_validation_does_not_alert():
    result = checks.decay(scored(seed=2), REFERENCE)
    assert not result["alert"]
    auc = result["metrics"]["auc"]
    assert auc["interval"][0] < auc["difference"] < auc["interval"][1]
    assert result["days"] == 28 and len(result["per_day"]) == 28


def test_a_real_drop_alerts_naming_the_metrics():
    result = checks.decay(scored(seed=2, separation=0.2), REFERENCE)
    assert result["alert"]
    assert result["metrics"]["auc"]["alert"]
    assert result["metrics"]["auc"]["interval"][1] < -configs.MONITOR_DECAY["margins"]["auc"]
    assert not result["metrics"]["calibration"]["alert"]  # reported, not gated


def test_one_bad_day_does_not_page_but_most_days_do():
    one = checks.decay(scored(seed=2, flip_days=(5,)), REFERENCE)
    assert not one["alert"]
    assert one["metrics"]["auc"]["difference"] < 0  # the day did lower the point estimate
    most = checks.decay(scored(seed=2, flip_days=tuple(range(0, 28, 2))), REFERENCE)
    assert most["alert"]


def test_too_few_days_never_alert():
    result = checks.decay(scored(days=2, per_day=400, seed=2, separation=0.1), REFERENCE)
    assert result["metrics"]["auc"]["difference"] < -0.1
    assert not result["enough_days"] and not result["alert"]


def test_resampling_is_by_day_not_by_flight():
    """Days with opposite errors: the interval over days is wider than one over flights would be."""
    window = scored(seed=4, flip_days=(0, 1, 2))
    result = checks.decay(window, REFERENCE)
    low, high = result["metrics"]["auc"]["interval"]
    rng = np.random.default_rng(0)
    flights = []
    for _ in range(300):
        i = rng.integers(0, len(window.labels), len(window.labels))
        flights.append(checks.auc(window.labels[i], window.scores[i]))
    flight_width = np.quantile(flights, 0.95) - np.quantile(flights, 0.05)
    assert high - low > flight_width

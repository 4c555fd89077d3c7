"""Pure logic of data.build_dataset on tiny frames: label, features, join, order, sampling."""
import math

import numpy as np
import pandas as pd
import pytest

from data import build_dataset as bd
from data import contract


def flights_frame(rows):
    """Raw nycflights13-like flights rows; unspecified columns get plausible values."""
    base = {"year": 2013, "month": 1, "day": 1, "dep_time": 517.0, "sched_dep_time": 515,
            "dep_delay": 2.0, "arr_time": 830.0, "sched_arr_time": 819, "arr_delay": 11.0,
            "carrier": "UA", "flight": 1545, "tailnum": "N14228", "origin": "EWR", "dest": "IAH",
            "air_time": 227.0, "distance": 1400, "hour": 5, "minute": 15,
            "time_hour": "2013-01-01T10:00:00Z"}
    return pd.DataFrame([{**base, **row} for row in rows])


def weather_frame(rows):
    base = {"origin": "EWR", "year": 2013, "month": 1, "day": 1, "hour": 5,
            "time_hour": "2013-01-01T10:00:00Z", "temp": 39.02, "dewp": 28.04, "humid": 64.43,
            "wind_dir": 260.0, "wind_speed": 12.65858, "wind_gust": np.nan, "precip": 0.0,
            "pressure": 1011.9, "visib": 10.0}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_late_label_threshold_and_missing_arrival():
    delays = pd.Series([16.0, 15.0, 14.0, -5.0, np.nan, 15.5, 0.0, 300.0])
    assert bd.late_label(delays).tolist() == [1, 0, 0, 0, 1, 1, 0, 1]
    assert bd.late_label(delays).dtype == np.int64


def test_derived_hours_minutes_and_day_of_week():
    raw = flights_frame([
        {"sched_dep_time": 5, "sched_arr_time": 0},                       # 00:05 -> arrives 00:00
        {"sched_dep_time": 1359, "sched_arr_time": 2359, "day": 6},      # Sunday
        {"sched_dep_time": 2300, "sched_arr_time": 101, "day": 7},       # Monday
    ])
    out = bd.derive_features(raw)
    assert out["sched_dep_hour"].tolist() == [0, 13, 23]
    assert out["sched_dep_minute"].tolist() == [5, 59, 0]
    assert out["sched_arr_hour"].tolist() == [0, 23, 1]
    # 2013-01-01 was a Tuesday; 0 = Monday.
    assert out["day_of_week"].tolist() == [1, 6, 0]


@pytest.mark.parametrize("field,value", [("sched_dep_time", 1375), ("sched_dep_time", 2400),
                                         ("sched_arr_time", -1)])
def test_invalid_scheduled_time_names_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"{field}: {value}\b"):
        bd.derive_features(flights_frame([{}, {field: value}]))


def test_impossible_date_is_reported():
    with pytest.raises(ValueError, match="2013-2-30"):
        bd.derive_features(flights_frame([{"month": 2, "day": 30}]))


def test_missing_source_column_is_reported():
    with pytest.raises(ValueError, match=r"flights: missing columns \['arr_delay'\]"):
        bd.derive_features(flights_frame([{}]).drop(columns=["arr_delay"]))


def test_output_is_exactly_the_contract_without_post_departure_columns():
    frame = bd.build_frame(flights_frame([{}, {"arr_delay": np.nan}]), weather_frame([{}]))
    assert tuple(frame.columns) == contract.CSV_COLUMNS
    assert not set(bd.POST_DEPARTURE_COLUMNS) & set(frame.columns)
    assert frame[contract.LABEL_KEY].tolist() == [0, 1]


def test_post_departure_inputs_do_not_change_any_feature():
    raw = flights_frame([{"flight": 1, "arr_delay": 20.0}, {"flight": 2, "arr_delay": -3.0},
                         {"flight": 3, "arr_delay": np.nan, "dep_time": np.nan}])
    weather = weather_frame([{}])
    before = bd.build_frame(raw, weather)
    changed = raw.assign(dep_time=[2359.0, 1.0, 600.0], dep_delay=[500.0, -30.0, 7.0],
                         arr_time=[1.0, 2.0, 3.0], air_time=[1.0, 999.0, 50.0],
                         tailnum=["X", "Y", "Z"], hour=[23, 0, 4], minute=[59, 1, 2],
                         time_hour="2013-06-01T00:00:00Z")
    pd.testing.assert_frame_equal(bd.build_frame(changed, weather), before)
    # arr_delay feeds the label and nothing else.
    flipped = bd.build_frame(raw.assign(arr_delay=[0.0, 60.0, 1.0]), weather)
    pd.testing.assert_frame_equal(flipped.drop(columns=["late"]), before.drop(columns=["late"]))
    assert flipped["late"].tolist() != before["late"].tolist()


def test_join_uses_origin_and_scheduled_hour_and_keeps_missing_weather_empty():
    raw = flights_frame([
        {"origin": "EWR", "sched_dep_time": 559, "flight": 1},   # EWR 05:00 observation
        {"origin": "JFK", "sched_dep_time": 600, "flight": 2},   # JFK 06:00 observation
        {"origin": "LGA", "sched_dep_time": 600, "flight": 3},   # no LGA observation
    ])
    weather = weather_frame([
        {"origin": "EWR", "hour": 5, "temp": 30.0},
        {"origin": "EWR", "hour": 6, "temp": 31.0},
        {"origin": "JFK", "hour": 5, "temp": 40.0},
        {"origin": "JFK", "hour": 6, "temp": 41.0, "pressure": np.nan},
    ])
    out = bd.join_weather(bd.derive_features(raw), weather).set_index("flight")
    assert out.loc[1, "temp"] == 30.0
    assert out.loc[2, "temp"] == 41.0 and math.isnan(out.loc[2, "pressure"])
    assert out.loc[3, list(contract.WEATHER_FEATURES)].isna().all()
    assert len(out) == 3


def test_dst_duplicate_hour_keeps_earlier_observation_whatever_the_row_order():
    # 2013-11-03 01:00 local happens twice: 05:00Z (EDT) and 06:00Z (EST).
    dup = [{"month": 11, "day": 3, "hour": 1, "time_hour": "2013-11-03T06:00:00Z", "temp": 50.0},
           {"month": 11, "day": 3, "hour": 1, "time_hour": "2013-11-03T05:00:00Z", "temp": 52.0}]
    raw = flights_frame([{"month": 11, "day": 3, "sched_dep_time": 130}])
    for rows in (dup, dup[::-1]):
        weather = weather_frame(rows)
        assert len(bd.dedupe_weather(weather)) == 1
        out = bd.join_weather(bd.derive_features(raw), weather)
        assert len(out) == 1
        assert out["temp"].tolist() == [52.0]


def test_row_order_depends_on_content_only():
    raw = flights_frame([{"flight": f, "day": 1 + f % 3, "sched_dep_time": 500 + f * 7 % 60,
                          "origin": ("EWR", "JFK", "LGA")[f % 3]} for f in range(1, 40)])
    weather = weather_frame([{}])
    first = bd.build_frame(raw, weather)
    shuffled = bd.build_frame(raw.sample(frac=1.0, random_state=7).reset_index(drop=True), weather)
    pd.testing.assert_frame_equal(first, shuffled)
    keys = list(zip(first["day"], first["sched_dep_hour"], first["sched_dep_minute"]))
    assert keys == sorted(keys)


def _population(n=2000):
    rng = np.random.default_rng(0)
    raw = flights_frame([{"flight": i + 1, "day": 1 + i % 28, "sched_dep_time": 500 + (i % 18) * 100,
                          "origin": ("EWR", "JFK", "LGA")[i % 3],
                          "arr_delay": float(rng.choice([60.0, -5.0, np.nan], p=[.2, .75, .05]))}
                         for i in range(n)])
    return bd.build_frame(raw, weather_frame([{}]))


def test_stratified_sample_is_deterministic_proportional_and_seeded():
    frame = _population()
    sample = bd.stratified_sample(frame, 300, seed=13)
    assert len(sample) == 300
    pd.testing.assert_frame_equal(sample, bd.stratified_sample(frame, 300, seed=13))
    # Every sampled row is a real row.
    assert len(sample.merge(frame, how="inner")) == 300
    # Strata (late, origin) keep their share to within one row.
    expected = frame.groupby(["late", "origin"]).size() * 300 / len(frame)
    got = sample.groupby(["late", "origin"]).size()
    assert ((got - expected).abs() < 1.0).all()
    other = bd.stratified_sample(frame, 300, seed=14)
    assert not other.equals(sample)
    assert bd.stratified_sample(frame, 10_000).equals(frame)


def test_card_table_goes_between_markers_and_missing_markers_fail():
    card = f"# t\n{bd.CARD_BEGIN}\nold\n{bd.CARD_END}\nafter\n"
    assert bd.render_card(card, "| x |\n") == f"# t\n{bd.CARD_BEGIN}\n| x |\n{bd.CARD_END}\nafter\n"
    with pytest.raises(ValueError, match="markers"):
        bd.render_card("# no markers\n", "| x |\n", "README.md")


def _operations(frame):
    return frame.set_index("flight")[list(contract.OPERATIONS_FEATURES)]


def test_operations_see_only_departures_before_the_prediction_moment():
    lead = contract.PREDICTION_LEAD_MINUTES
    assert lead == 120  # the times below are written for a two-hour lead
    raw = flights_frame([
        {"flight": 1, "sched_dep_time": 600, "dep_delay": 10.0},    # leaves 06:10
        {"flight": 2, "sched_dep_time": 900, "dep_delay": 0.0},     # moment 07:00: flight 1 has left
        {"flight": 3, "sched_dep_time": 800, "dep_delay": 0.0},     # moment 06:00: flight 1 has not
        {"flight": 4, "sched_dep_time": 610, "dep_delay": np.nan},  # cancelled: never leaves
        {"flight": 5, "sched_dep_time": 900, "dep_delay": 0.0, "origin": "JFK"},
    ])
    ops = _operations(bd.build_frame(raw, weather_frame([{}])))
    assert ops.loc[2, ["origin_departed_so_far", "origin_waiting_now"]].tolist() == [1.0, 1.0]  # 1 gone, 4 waits
    assert ops.loc[2, "origin_mean_dep_delay_so_far"] == 10.0
    assert ops.loc[2, "origin_late_dep_share_so_far"] == 0.0
    assert ops.loc[3, ["origin_departed_so_far", "origin_waiting_now"]].tolist() == [0.0, 0.0]
    assert math.isnan(ops.loc[3, "origin_mean_dep_delay_so_far"])
    # JFK's board is its own; the carrier's spans the three airports
    assert ops.loc[5, "origin_departed_so_far"] == 0.0 and ops.loc[5, "carrier_departed_so_far"] == 1.0
    assert ops.loc[2, "origin_hour_departures"] == 1.0 and ops.loc[5, "origin_hour_departures"] == 1.0
    # flight 1 leaving at 07:10 instead is no longer on flight 2's board at 07:00: it waits
    later = _operations(bd.build_frame(raw.assign(dep_delay=[70.0, 0.0, 0.0, np.nan, 0.0]), weather_frame([{}])))
    assert later.loc[2, ["origin_departed_so_far", "origin_waiting_now"]].tolist() == [0.0, 2.0]


def test_yesterday_late_rate_uses_the_previous_day_only():
    raw = flights_frame([
        {"flight": 1, "day": 1, "arr_delay": 60.0}, {"flight": 2, "day": 1, "arr_delay": 0.0},
        {"flight": 3, "day": 1, "arr_delay": np.nan, "carrier": "AA"},
        {"flight": 4, "day": 2, "arr_delay": 0.0}, {"flight": 5, "day": 3, "arr_delay": 0.0},
    ])
    ops = _operations(bd.build_frame(raw, weather_frame([{}])))
    assert math.isnan(ops.loc[1, "origin_late_rate_yesterday"])            # Jan 1: no yesterday
    assert ops.loc[4, "origin_late_rate_yesterday"] == round(2 / 3, 4)     # 1 late + 1 cancelled of 3
    assert ops.loc[4, "carrier_late_rate_yesterday"] == 0.5                # UA: 1 of 2
    assert ops.loc[5, "origin_late_rate_yesterday"] == 0.0                 # day 2 only


def test_no_operations_feature_depends_on_anything_after_the_moment():
    """Property: scrambling what happens after a flight's prediction moment (later departures' delays,
    today's arrivals) leaves that flight's features as they were."""
    rng = np.random.default_rng(0)
    n = 60
    raw = flights_frame([{"flight": i + 1, "origin": ["EWR", "JFK"][i % 2], "carrier": ["UA", "AA", "B6"][i % 3],
                          "sched_dep_time": int(rng.integers(5, 23)) * 100 + int(rng.integers(0, 59)),
                          "dep_delay": float(rng.integers(-10, 120)), "arr_delay": float(rng.integers(-20, 90))}
                         for i in range(n)])
    weather = weather_frame([{}])
    before = bd.build_frame(raw, weather).set_index("flight")
    sched = (raw["sched_dep_time"] // 100 * 60 + raw["sched_dep_time"] % 100).to_numpy()
    left_at = sched + raw["dep_delay"].to_numpy()
    for i in range(0, n, 7):
        moment = sched[i] - contract.PREDICTION_LEAD_MINUTES
        after = left_at >= moment
        changed = raw.copy()
        changed.loc[after, "dep_delay"] += rng.integers(0, 60, after.sum())  # later still
        changed["arr_delay"] = rng.integers(-20, 90, n).astype(float)
        again = bd.build_frame(changed, weather).set_index("flight")
        features = [c for c in contract.FEATURE_KEYS if c != "flight"]
        pd.testing.assert_series_equal(again.loc[i + 1, features], before.loc[i + 1, features])

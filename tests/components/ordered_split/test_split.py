"""The ordered split's assignment: consecutive runs of values in order, each split near its share."""
import pytest

from components.ordered_split import SplitError, assign_splits


def test_the_last_values_go_to_the_last_split_with_about_its_share():
    counts = {day: 100 for day in range(1, 31)}  # 30 equal days, train:eval = 3:1
    splits = assign_splits(counts, [3, 1], "day")
    assert [d for d in sorted(splits) if splits[d] == 1] == list(range(23, 31))  # 8 of 30 days: 26.7%
    assert [d for d in sorted(splits) if splits[d] == 0] == list(range(1, 23))


def test_a_value_goes_where_its_midpoint_falls():
    # Cumulative midpoints 0.1, 0.45, 0.775, 0.95: the third value's midpoint is just past 3/4.
    splits = assign_splits({"a": 20, "b": 50, "c": 15, "d": 15}, [3, 1])
    assert splits == {"a": 0, "b": 0, "c": 1, "d": 1}


def test_order_of_counts_does_not_matter_and_three_splits_work():
    counts = {day: 10 + day % 3 for day in range(1, 21)}
    splits = assign_splits(counts, [2, 1, 1])
    assert splits == assign_splits(dict(reversed(list(counts.items()))), [2, 1, 1])
    runs = [splits[d] for d in sorted(splits)]
    assert runs == sorted(runs) and set(runs) == {0, 1, 2}


def test_values_that_cannot_fill_every_split_are_an_error_naming_the_feature():
    with pytest.raises(SplitError, match=r"1 value\(s\) of 'day' \(\[5\]\) leave split\(s\) \[1\] empty"):
        assign_splits({5: 100}, [3, 1], "day")
    with pytest.raises(SplitError, match="no examples"):
        assign_splits({}, [3, 1], "day")
    with pytest.raises(SplitError, match="must be positive"):
        assign_splits({1: 1, 2: 1}, [3, 0], "day")

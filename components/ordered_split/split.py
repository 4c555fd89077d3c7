"""Which split each value of an ordered partition feature goes to: consecutive runs of values, in order.

Values are taken in ascending order (e.g. the day of a month); each split of the SplitConfig receives the
next run of values, its share of the examples given by its `hash_buckets` (train 3, eval 1: the eval split
holds the last values, about a quarter of the examples). A value goes to the split whose share of the
cumulative example count holds the value's midpoint, so shares miss their target by half a value at most.
"""
import bisect
from typing import Dict, Hashable, Mapping, Sequence


class SplitError(ValueError):
    """The values cannot fill every split."""


def assign_splits(counts: Mapping[Hashable, int], shares: Sequence[int], feature: str = "partition feature"
                  ) -> Dict[Hashable, int]:
    """{value: split index} for examples counted per value (`counts`) and the splits' relative `shares`."""
    if not counts:
        raise SplitError(f"no examples: nothing to split by {feature!r}")
    if not shares or min(shares) <= 0:
        raise SplitError(f"split shares must be positive, got {list(shares)}")
    total, bounds, cumulative = sum(counts.values()), [], 0
    for share in shares:
        cumulative += share
        bounds.append(cumulative / sum(shares))
    result, seen = {}, 0
    for value in sorted(counts):
        midpoint = (seen + counts[value] / 2) / total
        result[value] = min(bisect.bisect_right(bounds, midpoint), len(shares) - 1)
        seen += counts[value]
    empty = [i for i in range(len(shares)) if i not in set(result.values())]
    if empty:
        raise SplitError(f"{len(counts)} value(s) of {feature!r} ({sorted(counts)}) leave split(s) {empty} empty: "
                         f"each split needs whole values")
    return result

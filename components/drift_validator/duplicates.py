"""Duplicated rows: counted from the rows themselves, since statistics cannot tell them.

TFDV statistics count values per feature, not rows, so two identical rows leave no trace in them. The
rows are keyed by their content (a serialized tf.Example re-serialized deterministically, or any
hashable row) and the repeats counted.
"""
import hashlib
from typing import Hashable, Iterable, Sequence, Tuple


def count_duplicates(rows: Iterable[Hashable]) -> Tuple[int, int]:
    """(rows, rows that repeat an earlier row)."""
    seen = set()
    total = repeated = 0
    for row in rows:
        total += 1
        if row in seen:
            repeated += 1
        else:
            seen.add(row)
    return total, repeated


def example_keys(paths: Sequence[str], compression_type: str = "GZIP") -> Iterable[bytes]:
    """A content digest per tf.Example in TFRecord files (deterministic serialization, so feature
    order in the record does not matter)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    for record in tf.data.TFRecordDataset(list(paths), compression_type=compression_type).as_numpy_iterator():
        example = tf.train.Example.FromString(record)
        yield hashlib.sha1(example.SerializeToString(deterministic=True)).digest()

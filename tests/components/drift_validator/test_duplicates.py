"""Duplicated rows, counted from rows and from TFRecord files of tf.Examples."""
import tensorflow as tf

from components.drift_validator import duplicates


def test_count_duplicates():
    assert duplicates.count_duplicates([]) == (0, 0)
    assert duplicates.count_duplicates(["a", "b", "a", "a", "c"]) == (5, 2)


def example(**features):
    return tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v])) for k, v in features.items()}))


def test_example_keys_ignore_the_feature_order_of_the_record(tmp_path):
    paths = [str(tmp_path / "a.gz"), str(tmp_path / "b.gz")]
    with tf.io.TFRecordWriter(paths[0], options="GZIP") as w:
        w.write(example(x=1, y=2).SerializeToString())
        w.write(example(x=1, y=3).SerializeToString())
    with tf.io.TFRecordWriter(paths[1], options="GZIP") as w:
        w.write(example(y=2, x=1).SerializeToString())  # same row, features inserted the other way round
    assert duplicates.count_duplicates(duplicates.example_keys(paths)) == (3, 1)

"""TFDV statistics of logged rows, computed on Beam, written the way StatisticsGen writes them
(`<uri>/Split-<split>/FeatureStats.pb`), so every reader of ExampleStatistics artifacts reads them."""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from data import contract

SERVING_SPLIT = "serving"
STATS_FILE = "FeatureStats.pb"
_BATCH_ROWS = 1000


def record_batches(frame: pd.DataFrame, batch_rows: int = _BATCH_ROWS) -> List:
    """The frame as Arrow record batches shaped like CsvExampleGen's tf.Examples, the input StatisticsGen sees,
    so the statistics compare like for like: one list per cell, and a missing value is an empty list (an
    empty CSV cell becomes a feature without values there, which TFDV counts as present)."""
    import pyarrow as pa
    types = {"string": pa.list_(pa.binary()), "int64": pa.list_(pa.int64()), "float32": pa.list_(pa.float32())}
    batches = []
    for start in range(0, len(frame), batch_rows):
        part = frame.iloc[start:start + batch_rows]
        arrays, names = [], []
        for name in part.columns:
            kind = contract.tf_dtype_name(name) if name in contract.FEATURE_KEYS else "float32"
            cells = []
            for v in part[name].tolist():
                if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                    cells.append([])
                elif kind == "string":
                    cells.append([str(v).encode()])
                else:
                    cells.append([v])
            arrays.append(pa.array(cells, type=types[kind]))
            names.append(name)
        batches.append(pa.RecordBatch.from_arrays(arrays, names))
    return batches


def generate(datasets: Dict[str, Tuple[pd.DataFrame, str, str]], beam_args: Optional[Sequence[str]] = None
             ) -> Dict[str, object]:
    """Statistics of several frames in one Beam pipeline: {name: (frame, uri, split)} -> {name:
    DatasetFeatureStatisticsList}, each also written to `<uri>/Split-<split>/FeatureStats.pb`."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    with beam.Pipeline(options=PipelineOptions(list(beam_args or []))) as p:
        for name, (frame, uri, split) in datasets.items():
            path = os.path.join(uri, f"Split-{split}", STATS_FILE)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _ = (p | f"Batches[{name}]" >> beam.Create(record_batches(frame), reshuffle=False)
                 | f"Statistics[{name}]" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
                 | f"Write[{name}]" >> tfdv.WriteStatisticsToBinaryFile(path))
    return {name: load(uri, split) for name, (_, uri, split) in datasets.items()}


def load(uri: str, split: str):
    """The DatasetFeatureStatisticsList of one split of an ExampleStatistics artifact."""
    import tensorflow_data_validation as tfdv
    path = os.path.join(uri, f"Split-{split}", STATS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no statistics of split {split!r} in {uri}")
    return tfdv.load_stats_binary(path)

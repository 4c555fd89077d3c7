"""Request logs (TF Serving's PredictionLog TFRecords, serving/server/request_log.py) as feature columns, answers
and model versions.

Reading and flattening a record is request_log's (`log_files`, `read_logs`, `rows`); this module types the
rows by the column contract (missing weather, NaN on the raw signature or an absent tf.Example feature, is
a missing value, as in the span files) and says which file and record is bad.
"""
import dataclasses
import math
import os
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd

from data import contract
from serving.server import request_log


class LogError(ValueError):
    """Logs that cannot be read; the message is one line naming the folder, file or record."""


@dataclasses.dataclass
class Logs:
    """Rows decoded from request logs: features typed by the contract, the answer (NaN when the log holds
    no response, e.g. the proxy's logger), the version that answered (-1 when unknown)."""
    frame: pd.DataFrame          # contract.FEATURE_KEYS columns, span-file dtypes (Int64 / float64 / string)
    predictions: np.ndarray      # float64
    versions: np.ndarray         # int64
    model_names: List[str]
    files: List[str]
    records: int                 # log records read (a batch request is one record of many rows)

    def select(self, mask) -> "Logs":
        mask = np.asarray(mask, dtype=bool)
        return dataclasses.replace(self, frame=self.frame[mask].reset_index(drop=True),
                                   predictions=self.predictions[mask], versions=self.versions[mask])

    @property
    def days(self) -> np.ndarray:
        return day_keys(self.frame)


def _version(record) -> int:
    for spec in (record.log_metadata.model_spec, record.predict_log.response.model_spec,
                 record.predict_log.request.model_spec):
        if spec.HasField("version") and spec.version.value:
            return int(spec.version.value)
    return -1


def _answer(outputs: Dict) -> float:
    value = outputs.get(contract.PREDICTION_KEY)
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    return math.nan if value is None else float(value)


def read_logs(directory: str) -> Logs:
    """Every row of the log files of a folder; LogError naming the file and record when one cannot be read."""
    try:
        files = request_log.log_files(directory)
    except OSError as e:
        raise LogError(f"{directory}: {e}") from None
    if not files:
        raise LogError(f"{directory}: no request log files (*{request_log.FILE_SUFFIX}) in it")
    rows: List[Dict] = []
    answers: List[float] = []
    versions: List[int] = []
    names, records = set(), 0
    for path in files:
        number = 0
        try:
            for number, record in enumerate(request_log.read_logs(path), 1):
                got = request_log.rows(record, examples_input=contract.EXAMPLES_INPUT)
                if record.WhichOneof("log_type") is None or not got:
                    raise ValueError("no request rows in it")
                missing = [k for k in contract.FEATURE_KEYS if k not in got[0][0]]
                if len(missing) == len(contract.FEATURE_KEYS):
                    raise ValueError(f"none of the model's inputs (got {sorted(got[0][0])})")
                rows += [row for row, _ in got]
                answers += [_answer(outputs) for _, outputs in got]
                versions += [_version(record)] * len(got)
                names.add(record.log_metadata.model_spec.name or record.predict_log.request.model_spec.name)
                records += 1
            if number == 0 and os.path.getsize(path) > 0:
                raise LogError(f"{path}: no PredictionLog record in it (not a TFRecord file of PredictionLog)")
        except LogError:
            raise
        except Exception as e:  # a bad file, a record that is no PredictionLog, a request of another model
            message = " ".join(str(e).split())[:200] or type(e).__name__
            where = f"{path}: record {number + 1}" if number or "record" not in message else path
            raise LogError(message if path in message else f"{where}: not a PredictionLog of this model ({message})") \
                from None
    frame = typed_frame(rows, files[0])
    return Logs(frame=frame, predictions=np.asarray(answers, dtype="float64"),
                versions=np.asarray(versions, dtype="int64"), model_names=sorted(n for n in names if n),
                files=files, records=records)


def typed_frame(rows: Sequence[Dict], where: str) -> pd.DataFrame:
    """Rows as a frame with the span files' dtypes (Int64, float64 with NaN = missing, string); a value that
    does not fit its column is a LogError naming `where`, the feature and the value."""
    out = {}
    for name in contract.FEATURE_KEYS:
        kind = contract.tf_dtype_name(name)
        values = [r.get(name) for r in rows]
        try:
            if kind == "string":
                out[name] = pd.Series([None if v is None else str(v) for v in values], dtype="string")
            elif kind == "int64":
                out[name] = pd.Series([None if v is None else int(v) for v in values], dtype="Int64")
            else:
                out[name] = pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
        except (TypeError, ValueError) as e:
            raise LogError(f"{where}: feature {name!r}: a value is not a {kind} ({e})") from None
    return pd.DataFrame(out)


def day_keys(frame: pd.DataFrame) -> np.ndarray:
    """The flight's date (month * 100 + day) per row: the unit the day-aware statistics resample."""
    return (frame["month"].astype("int64") * 100 + frame["day"].astype("int64")).to_numpy()

"""Pre-flight check of a span's CSV files against the curated schema.

CsvExampleGen infers column types from the data, so a missing column or an unparsable value would
silently become an absent or STRING feature. This check fails first, naming the file, line, column
and value, before any node runs (so nothing is pushed and the metadata store is untouched).
"""
import csv
import os
import re
from typing import Dict, List, Optional

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

SPAN_DIR = re.compile(r"^span-(\d+)$")


class BadSpanError(ValueError):
    """The span's files do not match the schema."""


def span_number(span_dir: str) -> int:
    match = SPAN_DIR.match(os.path.basename(os.path.normpath(span_dir)))
    if not match:
        raise BadSpanError(f"{span_dir}: not a span folder (expected span-<N>)")
    return int(match.group(1))


def list_spans(data_root: str) -> Dict[int, str]:
    """{span number: folder} of every span-N folder under data_root."""
    if not os.path.isdir(data_root):
        raise BadSpanError(f"{data_root}: data folder does not exist")
    spans = {}
    for name in os.listdir(data_root):
        match = SPAN_DIR.match(name)
        if match and os.path.isdir(os.path.join(data_root, name)):
            spans[int(match.group(1))] = os.path.join(data_root, name)
    return spans


def select_span(data_root: str, span: Optional[int] = None) -> str:
    """The folder of `span`, or of the latest span when span is None."""
    spans = list_spans(data_root)
    if not spans:
        raise BadSpanError(f"{data_root}: no span-N folders")
    if span is None:
        return spans[max(spans)]
    if span not in spans:
        raise BadSpanError(f"{data_root}: span {span} not found (available: {sorted(spans)})")
    return spans[span]


def load_schema(schema_path: str) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    with open(schema_path) as f:
        text_format.Parse(f.read(), schema)
    return schema


def _parses(value: str, feature_type: int) -> bool:
    try:
        if feature_type == schema_pb2.INT:
            int(value)
        elif feature_type == schema_pb2.FLOAT:
            float(value)
    except ValueError:
        return False
    return True


_TYPE_NAMES = {schema_pb2.INT: "an integer", schema_pb2.FLOAT: "a number", schema_pb2.BYTES: "a string"}


def check_file(path: str, schema: schema_pb2.Schema) -> int:
    """Validates one CSV file; returns its row count or raises BadSpanError naming file/line/column."""
    features = {f.name: f for f in schema.feature}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise BadSpanError(f"{path}: file is empty (expected a header line with columns "
                               f"{', '.join(features)})") from None
        except (OSError, EOFError, UnicodeDecodeError) as e:
            raise BadSpanError(f"{path}: cannot be read: {e}") from None
        missing = [name for name in features if name not in header]
        if missing:
            raise BadSpanError(f"{path}: missing column(s) {', '.join(repr(m) for m in missing)} "
                               f"required by the schema")
        unknown = [name for name in header if name not in features]
        if unknown:
            raise BadSpanError(f"{path}: unexpected column(s) {', '.join(repr(u) for u in unknown)} "
                               f"not in the schema")
        required = {name for name, feat in features.items() if feat.presence.min_fraction >= 1.0}
        rows = 0
        try:
            for rows, row in enumerate(reader, start=1):
                if len(row) != len(header):
                    raise BadSpanError(f"{path}: line {rows + 1} has {len(row)} fields, "
                                       f"the header has {len(header)}")
                for name, value in zip(header, row):
                    if value == "":
                        if name in required:
                            raise BadSpanError(f"{path}: line {rows + 1}, column {name!r}: empty, "
                                               f"but the schema requires a value")
                    elif not _parses(value, features[name].type):
                        raise BadSpanError(
                            f"{path}: line {rows + 1}, column {name!r}: value {value!r} is not "
                            f"{_TYPE_NAMES[features[name].type]}")
        except (OSError, EOFError, csv.Error) as e:
            raise BadSpanError(f"{path}: cannot be read after line {rows + 1}: {e}") from None
    if rows == 0:
        raise BadSpanError(f"{path}: has a header but no rows")
    return rows


def check_span(span_dir: str, schema_path: str) -> Dict[str, int]:
    """Validates every CSV file of a span folder; returns {file: rows}."""
    schema = load_schema(schema_path)
    names = sorted(os.listdir(span_dir))
    # CsvExampleGen reads every file of the folder (pattern span-{SPAN}/*) as plain CSV: it cannot
    # decompress, so anything else in the folder would become garbage rows.
    others = [n for n in names if not n.endswith(".csv")]
    if others:
        raise BadSpanError(f"{span_dir}: only plain .csv files may be in a span folder "
                           f"(CsvExampleGen reads every file as CSV), found {', '.join(others)}")
    files: List[str] = [os.path.join(span_dir, n) for n in names]
    if not files:
        raise BadSpanError(f"{span_dir}: no .csv files")
    return {path: check_file(path, schema) for path in files}

"""Read and write span files in the exact on-disk format of the flight-delay dataset.

A span file is ``<base>/span-<N>/flights.csv``: UTF-8 CSV, one header line with the column names,
``\\n`` line ends, no quoting, missing values as empty cells, integers as plain digits, floats as
Python's shortest round-trip ``repr`` (always with a ``.``, so CSV type inference sees floats). The
same rows therefore always give the same bytes.

Plain CSV, not ``.csv.gz``: TFX 1.16's CsvExampleGen cannot read gzip files (it reads the header
through ``tf.io.gfile`` without decompressing, and iterates Beam's ``CompressedFile``, which is not
iterable). Git compresses the files in its own object store anyway.

Tests use :func:`write_span` to make bad spans too (a missing column, an unparsable value, an empty
file): cells that are already strings are written verbatim.
"""
from __future__ import annotations

import csv
import hashlib
import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from data import contract

SPAN_FILE_NAME = "flights.csv"
MANIFEST_NAME = "SHA256SUMS"
_SPAN_DIR_RE = re.compile(r"^span-([1-9][0-9]*)$")
_FORBIDDEN = re.compile(r"[,\"\r\n]")


def span_path(base_dir: str | Path, span: int) -> Path:
    """``<base_dir>/span-<span>/flights.csv`` (span number unpadded)."""
    if int(span) < 1:
        raise ValueError(f"span number must be >= 1, got {span!r}")
    return Path(base_dir) / f"span-{int(span)}" / SPAN_FILE_NAME


def list_spans(base_dir: str | Path) -> list[int]:
    """Span numbers that have a span file under ``base_dir``, ascending."""
    spans = []
    for child in Path(base_dir).iterdir():
        match = _SPAN_DIR_RE.match(child.name)
        if match and (child / SPAN_FILE_NAME).is_file():
            spans.append(int(match.group(1)))
    return sorted(spans)


def _format_float(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"non-finite float {value!r}")
    return repr(value)


def _format_int(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"non-integer value {value!r}")
    return str(int(value))


def _format_column(name: str, values: pd.Series) -> list[str]:
    """Cells of one column; the contract's dtype decides int vs float formatting of numbers."""
    try:
        kind = contract.tf_dtype_name(name)
    except KeyError:
        kind = None
    # Fast paths for clean numeric columns (the full build); the general loop below handles the rest.
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_extension_array_dtype(
            values.dtype):
        return values.astype(str).tolist() if kind != "float32" else [
            repr(float(v)) for v in values.tolist()]
    if values.dtype == np.float64 and kind == "float32":
        arr = values.to_numpy()
        if np.isinf(arr).any():
            raise ValueError(f"column {name!r}: non-finite float {arr[np.isinf(arr)][0]!r}")
        return ["" if v != v else repr(v) for v in arr.tolist()]
    out = []
    for value in values.tolist():
        if isinstance(value, str):
            cell = value
        elif value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            cell = ""
        elif isinstance(value, (bool, np.bool_)):
            raise ValueError(f"column {name!r}: boolean value {value!r}; write 0/1")
        elif isinstance(value, (int, np.integer, float, np.floating)):
            try:
                if kind == "float32":
                    cell = _format_float(value)
                elif kind in ("int64", None) and (
                        isinstance(value, (int, np.integer)) or float(value).is_integer()):
                    cell = _format_int(value)
                else:
                    cell = _format_float(value)
            except ValueError as err:
                raise ValueError(f"column {name!r}: {err}") from None
        else:
            raise ValueError(f"column {name!r}: unsupported value {value!r} ({type(value).__name__})")
        if _FORBIDDEN.search(cell):
            raise ValueError(f"column {name!r}: value {cell!r} contains a comma, quote or newline")
        out.append(cell)
    return out


def to_csv_bytes(frame: pd.DataFrame, columns: Sequence[str] | None = None,
                 header: bool = True) -> bytes:
    """The uncompressed CSV text of ``frame`` (``columns`` in that order; default the contract's)."""
    columns = list(contract.CSV_COLUMNS if columns is None else columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"frame lacks columns {missing}")
    for name in columns:
        if _FORBIDDEN.search(name):
            raise ValueError(f"column name {name!r} contains a comma, quote or newline")
    cells = [_format_column(name, frame[name]) for name in columns]
    lines = [",".join(columns)] if header else []
    lines.extend(",".join(row) for row in zip(*cells))
    return ("".join(line + "\n" for line in lines)).encode("utf-8")


def write_csv(path: str | Path, frame: pd.DataFrame | None,
              columns: Sequence[str] | None = None, header: bool = True) -> Path:
    """Write ``frame`` as a span-format CSV at ``path``; ``frame=None`` writes an empty file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"" if frame is None else to_csv_bytes(frame, columns, header))
    return path


def write_span(base_dir: str | Path, span: int, frame: pd.DataFrame | None,
               columns: Sequence[str] | None = None, header: bool = True) -> Path:
    """Write ``<base_dir>/span-<span>/flights.csv``; see :func:`write_csv`."""
    return write_csv(span_path(base_dir, span), frame, columns, header)


_PANDAS_DTYPES = {"int64": "Int64", "float32": "float64", "string": "string"}


def _read_span_fast(path: Path) -> pd.DataFrame | None:
    """Typed read of a well-formed span with the C parser; None when anything does not fit."""
    numpy_dtypes = {"int64": "int64", "float32": "float64", "string": object}
    dtypes = {c: numpy_dtypes[contract.tf_dtype_name(c)] for c in contract.CSV_COLUMNS}
    try:
        with path.open("rb") as f:
            if f.readline().rstrip(b"\r\n") != ",".join(contract.CSV_COLUMNS).encode():
                return None
        frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, encoding="utf-8",
                            na_values={c: [""] for c in contract.FLOAT_FEATURES})
    except (ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    if frame.isna().drop(columns=list(contract.FLOAT_FEATURES)).any().any():
        return None
    if (frame[list(contract.CATEGORICAL_FEATURES)] == "").any().any():
        return None
    return frame.astype({c: _PANDAS_DTYPES[contract.tf_dtype_name(c)] for c in frame.columns})


def read_span(path: str | Path) -> pd.DataFrame:
    """Read a span file into a frame typed by the column contract (Int64 / float64 / string).

    Raises ValueError naming the file, column and value when the header or a cell does not fit.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (no header line)")
    fast = _read_span_fast(path)
    if fast is not None:
        return fast
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                          encoding="utf-8", engine="c")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: no header line") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: malformed CSV ({err})") from None
    header = list(raw.columns)
    if tuple(header) != contract.CSV_COLUMNS:
        missing = [c for c in contract.CSV_COLUMNS if c not in header]
        extra = [c for c in header if c not in contract.CSV_COLUMNS]
        raise ValueError(f"{path}: header does not match contract.CSV_COLUMNS "
                         f"(missing {missing}, unexpected {extra}, got {header})")
    short = raw.isna().any(axis=1)
    if short.any():
        raise ValueError(f"{path}:{short.idxmax() + 2}: expected {len(header)} cells, got fewer")
    out = {}
    for name in header:
        kind = contract.tf_dtype_name(name)
        col = raw[name]
        if kind == "string":
            out[name] = col.astype("string")
            continue
        converted = pd.to_numeric(col.replace("", np.nan), errors="coerce")
        bad = col[(col != "") & converted.isna()]
        if kind == "int64":
            nonint = converted.notna() & (converted != np.floor(converted.fillna(0)))
            bad = pd.concat([bad, col[nonint]])
        if len(bad):
            idx = bad.index[0]
            raise ValueError(f"{path}:{idx + 2}: column {name!r}: cannot parse {bad.iloc[0]!r} "
                             f"as {kind}")
        out[name] = converted.astype("Int64") if kind == "int64" else converted.astype("float64")
    return pd.DataFrame(out)


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest_text(entries: Iterable[tuple[str, str]]) -> str:
    """``sha256sum`` format: ``<hex>  <relative path>`` per line."""
    return "".join(f"{digest}  {rel}\n" for rel, digest in entries)


def parse_manifest(text: str, source: str = MANIFEST_NAME) -> dict[str, str]:
    """Relative path -> hex digest; raises ValueError naming the bad line."""
    out = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = re.fullmatch(r"([0-9a-f]{64})  (\S.*)", line)
        if not match:
            raise ValueError(f"{source}:{lineno}: not a sha256sum line: {line!r}")
        out[match.group(2)] = match.group(1)
    return out


def verify_manifest(base_dir: str | Path) -> list[str]:
    """Problems found checking ``<base_dir>/SHA256SUMS`` against the files (empty list = OK).

    Every span file under ``base_dir`` must be listed, and every listed file must exist with the
    listed digest.
    """
    base_dir = Path(base_dir)
    manifest_path = base_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return [f"{manifest_path}: missing"]
    listed = parse_manifest(manifest_path.read_text(), str(manifest_path))
    problems = []
    on_disk = {str(span_path(".", s).as_posix()).removeprefix("./") for s in list_spans(base_dir)}
    for rel in sorted(on_disk - set(listed)):
        problems.append(f"{base_dir / rel}: not listed in {manifest_path}")
    for rel, digest in listed.items():
        path = base_dir / rel
        if not path.is_file():
            problems.append(f"{path}: listed in {manifest_path} but missing")
            continue
        actual = sha256_file(path)
        if actual != digest:
            problems.append(f"{path}: sha256 {actual} != {digest} in {manifest_path}")
    return problems


def read_labels(path: str | Path) -> dict:
    """{natural key: label} of a CSV with the NATURAL_KEY columns and the label (a span file, or the
    labels file of `python -m serving replay --labels-out`). ValueError naming file, line, column and value."""
    columns = contract.NATURAL_KEY + (contract.LABEL_KEY,)
    labels = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            for column in columns:
                if contract.tf_dtype_name(column) == "int64":
                    try:
                        int(row[column])
                    except (TypeError, ValueError):
                        raise ValueError(f"{path}: line {line}, column {column!r}: value {row[column]!r} is not an"
                                         f" integer") from None
            label = int(row[contract.LABEL_KEY])
            if label not in (0, 1):
                raise ValueError(f"{path}: line {line}, column {contract.LABEL_KEY!r}: value {label!r} is not 0 or 1")
            labels[contract.natural_key(row)] = label
    return labels

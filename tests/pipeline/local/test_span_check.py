"""Pre-flight span checks name the file, line, column and value of bad input."""
import shutil

import pytest

from data import spans_io
from pipeline.local import span_check
from pipeline.local.runner import DEFAULT_SCHEMA, REPO_ROOT

FIXTURES = f"{REPO_ROOT}/tests/fixtures/spans"


@pytest.fixture
def frame():
    return spans_io.read_span(spans_io.span_path(FIXTURES, 1)).head(50)


def test_fixture_spans_pass_and_latest_is_selected():
    assert span_check.span_number(span_check.select_span(FIXTURES)) == 3
    rows = span_check.check_span(span_check.select_span(FIXTURES, 1), DEFAULT_SCHEMA)
    assert list(rows.values()) == [1500]


def test_unknown_span_lists_the_available_ones():
    with pytest.raises(span_check.BadSpanError, match=r"span 9 not found \(available: \[1, 2, 3\]\)"):
        span_check.select_span(FIXTURES, 9)


def test_missing_column_is_named(tmp_path, frame):
    path = spans_io.write_span(tmp_path, 4, frame, columns=[c for c in frame.columns if c != "visib"])
    with pytest.raises(span_check.BadSpanError) as err:
        span_check.check_span(str(path.parent), DEFAULT_SCHEMA)
    assert str(path) in str(err.value) and "'visib'" in str(err.value)


def test_unparsable_value_is_named_with_line(tmp_path, frame):
    frame = frame.astype({"temp": object})
    frame.loc[frame.index[6], "temp"] = "warm"
    path = spans_io.write_span(tmp_path, 4, frame)
    with pytest.raises(span_check.BadSpanError,
                       match=r"flights.csv: line 8, column 'temp': value 'warm' is not a number"):
        span_check.check_span(str(path.parent), DEFAULT_SCHEMA)


def test_missing_required_value_is_named(tmp_path, frame):
    frame = frame.astype({"carrier": object})
    frame.loc[frame.index[0], "carrier"] = None
    path = spans_io.write_span(tmp_path, 4, frame)
    with pytest.raises(span_check.BadSpanError, match=r"line 2, column 'carrier': empty"):
        span_check.check_span(str(path.parent), DEFAULT_SCHEMA)


def test_empty_file_is_named(tmp_path):
    path = spans_io.write_span(tmp_path, 4, None)
    with pytest.raises(span_check.BadSpanError, match=rf"{path}: file is empty"):
        span_check.check_span(str(path.parent), DEFAULT_SCHEMA)


def test_compressed_file_in_span_folder_is_rejected(tmp_path):
    folder = tmp_path / "span-4"
    folder.mkdir()
    shutil.copy(spans_io.span_path(FIXTURES, 1), folder / "flights.csv")
    (folder / "flights.csv.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(span_check.BadSpanError, match="only plain .csv files.*flights.csv.gz"):
        span_check.check_span(str(folder), DEFAULT_SCHEMA)

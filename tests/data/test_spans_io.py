"""data.spans_io: exact file format, round trip, clear errors on bad spans, manifests."""
import hashlib

import numpy as np
import pandas as pd
import pytest

from data import spans_io
from data import contract


def tiny_frame():
    row = {"month": 1, "day": 2, "day_of_week": 2, "sched_dep_hour": 5, "sched_dep_minute": 7,
           "sched_arr_hour": 8, "carrier": "UA", "flight": 1545, "origin": "EWR", "dest": "IAH",
           "distance": 1400, "temp": 39.02, "dewp": 28.04, "humid": 64.43, "wind_dir": 270.0,
           "wind_speed": 10.35702, "wind_gust": np.nan, "precip": 0.0, "pressure": 1011.9,
           "visib": 10.0, "origin_hour_departures": 12.0, "dest_hour_arrivals": 2.0,
           "origin_departed_so_far": 0.0, "origin_waiting_now": 3.0, "origin_mean_dep_delay_so_far": np.nan,
           "origin_late_dep_share_so_far": np.nan, "carrier_departed_so_far": 4.0, "carrier_waiting_now": 0.0,
           "carrier_mean_dep_delay_so_far": -2.5, "carrier_late_dep_share_so_far": 0.25,
           "origin_late_rate_yesterday": 0.3125, "carrier_late_rate_yesterday": 0.4, "late": 1}
    other = {**row, "flight": 7, "temp": np.nan, "wind_dir": 10, "origin_late_rate_yesterday": np.nan, "late": 0}
    return pd.DataFrame([row, other])


def test_exact_bytes_of_a_span_file(tmp_path):
    path = spans_io.write_span(tmp_path, 4, tiny_frame())
    assert path == tmp_path / "span-4" / "flights.csv"
    assert path.read_bytes() == (
        ",".join(contract.CSV_COLUMNS) + "\n"
        "1,2,2,5,7,8,UA,1545,EWR,IAH,1400,39.02,28.04,64.43,270.0,10.35702,,0.0,1011.9,10.0,"
        "12.0,2.0,0.0,3.0,,,4.0,0.0,-2.5,0.25,0.3125,0.4,1\n"
        "1,2,2,5,7,8,UA,7,EWR,IAH,1400,,28.04,64.43,10.0,10.35702,,0.0,1011.9,10.0,"
        "12.0,2.0,0.0,3.0,,,4.0,0.0,-2.5,0.25,,0.4,0\n"
    ).encode()


def test_round_trip_keeps_values_and_contract_types(tmp_path):
    frame = tiny_frame()
    back = spans_io.read_span(spans_io.write_span(tmp_path, 1, frame))
    assert tuple(back.columns) == contract.CSV_COLUMNS
    for name in contract.CSV_COLUMNS:
        kind = contract.tf_dtype_name(name)
        assert {"int64": "Int64", "float32": "float64", "string": "string"}[kind] == str(
            back[name].dtype), name
    pd.testing.assert_frame_equal(back.astype(object).where(back.notna(), None),
                                  frame.astype(object).where(frame.notna(), None),
                                  check_dtype=False)


def test_missing_column_is_named(tmp_path):
    columns = [c for c in contract.CSV_COLUMNS if c != "distance"]
    path = spans_io.write_span(tmp_path, 1, tiny_frame(), columns=columns)
    assert path.read_text().splitlines()[0] == ",".join(columns)
    with pytest.raises(ValueError, match=r"span-1/flights.csv: header .*missing \['distance'\]"):
        spans_io.read_span(path)


def test_unparsable_value_names_file_line_column_and_value(tmp_path):
    frame = tiny_frame().astype(object)
    frame.loc[1, "distance"] = "far"
    path = spans_io.write_span(tmp_path, 2, frame)
    with pytest.raises(ValueError, match=r"span-2/flights.csv:3: column 'distance': cannot parse 'far'"):
        spans_io.read_span(path)
    frame = tiny_frame().astype(object)
    frame.loc[0, "month"] = "1.5"
    with pytest.raises(ValueError, match=r":2: column 'month': cannot parse '1.5' as int64"):
        spans_io.read_span(spans_io.write_span(tmp_path, 3, frame))


def test_empty_and_headerless_files_are_reported(tmp_path):
    empty = spans_io.write_span(tmp_path, 1, None)
    assert empty.read_bytes() == b""
    with pytest.raises(ValueError, match="span-1/flights.csv: empty file"):
        spans_io.read_span(empty)
    headerless = spans_io.write_span(tmp_path, 2, tiny_frame(), header=False)
    with pytest.raises(ValueError, match="span-2/flights.csv: header does not match"):
        spans_io.read_span(headerless)


def test_values_that_would_break_the_csv_are_refused(tmp_path):
    frame = tiny_frame().astype(object)
    frame.loc[0, "dest"] = "A,B"
    with pytest.raises(ValueError, match=r"column 'dest': value 'A,B' contains a comma"):
        spans_io.write_span(tmp_path, 1, frame)
    with pytest.raises(ValueError, match="column 'temp': non-finite"):
        spans_io.write_span(tmp_path, 1, tiny_frame().assign(temp=[np.inf, 1.0]))


def test_list_spans_and_manifest_verification(tmp_path):
    for span in (1, 2, 10):
        spans_io.write_span(tmp_path, span, tiny_frame())
    (tmp_path / "span-x").mkdir()
    assert spans_io.list_spans(tmp_path) == [1, 2, 10]
    entries = [(f"span-{s}/flights.csv", spans_io.sha256_file(spans_io.span_path(tmp_path, s)))
               for s in (1, 2, 10)]
    (tmp_path / spans_io.MANIFEST_NAME).write_text(spans_io.manifest_text(entries))
    assert spans_io.verify_manifest(tmp_path) == []

    spans_io.write_span(tmp_path, 2, tiny_frame().assign(late=0))
    spans_io.write_span(tmp_path, 3, tiny_frame())
    spans_io.span_path(tmp_path, 10).unlink()
    problems = "\n".join(spans_io.verify_manifest(tmp_path))
    assert "span-2/flights.csv: sha256" in problems
    assert "span-3/flights.csv: not listed" in problems
    assert "span-10/flights.csv: listed in" in problems and "but missing" in problems
    assert "span-1/" not in problems


def test_manifest_text_is_sha256sum_format():
    digest = hashlib.sha256(b"x").hexdigest()
    text = spans_io.manifest_text([("span-1/flights.csv", digest)])
    assert text == f"{digest}  span-1/flights.csv\n"
    assert spans_io.parse_manifest(text) == {"span-1/flights.csv": digest}
    with pytest.raises(ValueError, match="SHA256SUMS:1: not a sha256sum line"):
        spans_io.parse_manifest("deadbeef span-1/flights.csv\n")


def test_read_then_write_reproduces_a_committed_span(tmp_path):
    """read_span's typed frame (nullable ints, strings, NaN weather) writes back byte for byte."""
    from .conftest import FIXTURE_SPANS_DIR
    source = spans_io.span_path(FIXTURE_SPANS_DIR, 1)
    frame = spans_io.read_span(source)
    assert frame["wind_gust"].isna().any()
    assert spans_io.write_span(tmp_path, 1, frame).read_bytes() == source.read_bytes()
    # Nullable missing ints / strings (e.g. a test blanking a required cell) become empty cells.
    frame.loc[0, "distance"] = pd.NA
    frame.loc[0, "carrier"] = pd.NA
    line = spans_io.write_span(tmp_path, 2, frame).read_text().splitlines()[1].split(",")
    assert line[contract.CSV_COLUMNS.index("distance")] == ""
    assert line[contract.CSV_COLUMNS.index("carrier")] == ""


def test_the_natural_key_names_one_flight_in_every_committed_span():
    """read_labels over the 12 spans: one label per flight, so NATURAL_KEY is unique over 2013."""
    from .conftest import SPANS_DIR
    keys, rows = set(), 0
    for span in spans_io.list_spans(SPANS_DIR):
        labels = spans_io.read_labels(spans_io.span_path(SPANS_DIR, span))
        with open(spans_io.span_path(SPANS_DIR, span), encoding="utf-8") as handle:
            rows += sum(1 for _ in handle) - 1
        assert not keys & set(labels)
        keys |= set(labels)
    assert len(keys) == rows == 336776


def test_read_labels_names_the_file_line_column_and_value(tmp_path):
    path = tmp_path / "labels.csv"
    header = ",".join(contract.NATURAL_KEY + (contract.LABEL_KEY,))
    path.write_text(f"{header}\n2,1,UA,1018,EWR,5,25,1\n")
    assert spans_io.read_labels(path) == {(2, 1, "UA", 1018, "EWR", 5, 25): 1}
    path.write_text(f"{header}\n2,1,UA,1018,EWR,5,25,1\n2,x,UA,1018,EWR,5,25,1\n")
    with pytest.raises(ValueError, match=r"labels.csv: line 3, column 'day': value 'x' is not an integer"):
        spans_io.read_labels(path)
    path.write_text(f"{header}\n2,1,UA,1018,EWR,5,25,2\n")
    with pytest.raises(ValueError, match=r"labels.csv: line 2, column 'late': value 2 is not 0 or 1"):
        spans_io.read_labels(path)
    path.write_text("month,day,late\n2,1,0\n")
    with pytest.raises(ValueError, match=r"labels.csv: missing column\(s\) carrier, flight, origin"):
        spans_io.read_labels(path)

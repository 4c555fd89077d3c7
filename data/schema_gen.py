"""Generate (or --check) the curated schema ``data/schema/schema.pbtxt``.

    python -m data.schema_gen [--spans data/spans] [--out data/schema/schema.pbtxt] [--check]

The schema is written from the curated constants below, not inferred: types follow
``data.contract``, ranges are physical/calendar limits chosen by hand, and only the string
domains (carrier, origin, dest) are read from the data: every value seen in 2013. Comments in the
generated file say why each constraint is there.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping, Sequence

import click

from data import contract

SCHEMA_PATH = Path(__file__).parent / "schema" / "schema.pbtxt"
TRAINING, SERVING = "TRAINING", "SERVING"

# name -> (min, max, comment). Integer features (all required).
INT_RANGES = {
    "month": (1, 12, "calendar month of the scheduled departure"),
    "day": (1, 31, "day of month"),
    "day_of_week": (0, 6, "0=Monday .. 6=Sunday"),
    "sched_dep_hour": (0, 23, "local scheduled departure hour (HHMM // 100)"),
    "sched_dep_minute": (0, 59, "local scheduled departure minute (HHMM % 100)"),
    "sched_arr_hour": (0, 23, "local scheduled arrival hour"),
    "flight": (1, 9999, "flight numbers have 1 to 4 digits"),
    "distance": (1, 6000, "miles; the longest route from NYC (JFK-HNL) is 4,983 mi"),
    contract.LABEL_KEY: (0, 1, "label: arrival > 15 min late, cancelled or diverted"),
}
# name -> (min, max, comment). contract.FLOAT_FEATURES: origin weather at the scheduled hour and the
# operations at the prediction moment, optional floats.
FLOAT_RANGES = {
    "temp": (-40.0, 120.0, "degrees F"),
    "dewp": (-60.0, 100.0, "dew point, degrees F"),
    "humid": (0.0, 100.0, "relative humidity, percent"),
    "wind_dir": (0.0, 360.0, "degrees"),
    "wind_speed": (0.0, 100.0, "mph; rejects nycflights13's one 1,048 mph sensor error"),
    "wind_gust": (0.0, 150.0, "mph"),
    "precip": (0.0, 10.0, "inches in the hour"),
    "pressure": (900.0, 1100.0, "sea level pressure, millibars"),
    "visib": (0.0, 10.0, "miles; METAR caps visibility at 10"),
    # Operations at the prediction moment (contract.OPERATIONS_FEATURES): optional floats as well.
    "origin_hour_departures": (0.0, 200.0, "scheduled departures in the hour; the busiest airports run ~100"),
    "dest_hour_arrivals": (0.0, 200.0, "scheduled arrivals from NYC in the hour"),
    "origin_departed_so_far": (0.0, 3000.0, "flights of one day at one airport"),
    "origin_waiting_now": (0.0, 3000.0, "flights of one day at one airport"),
    "origin_mean_dep_delay_so_far": (-120.0, 1440.0, "minutes: up to 2 h early, at most a day late"),
    "origin_late_dep_share_so_far": (0.0, 1.0, "share"),
    "carrier_departed_so_far": (0.0, 3000.0, "flights of one day for one airline"),
    "carrier_waiting_now": (0.0, 3000.0, "flights of one day for one airline"),
    "carrier_mean_dep_delay_so_far": (-120.0, 1440.0, "minutes: up to 2 h early, at most a day late"),
    "carrier_late_dep_share_so_far": (0.0, 1.0, "share"),
    "origin_late_rate_yesterday": (0.0, 1.0, "share"),
    "carrier_late_rate_yesterday": (0.0, 1.0, "share"),
}
STRING_COMMENTS = {
    "carrier": "two-letter airline code",
    "origin": "NYC airport",
    "dest": "destination airport (FAA code)",
}


def build_schema(string_domains: Mapping[str, Sequence[str]]):
    """The curated Schema proto; ``string_domains`` maps carrier/origin/dest to their values."""
    from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=import-outside-toplevel
    missing = [c for c in contract.CATEGORICAL_FEATURES if c not in string_domains]
    if missing:
        raise ValueError(f"string_domains lacks {missing}")
    schema = schema_pb2.Schema()
    for name in contract.CSV_COLUMNS:
        feature = schema.feature.add(name=name)
        kind = contract.tf_dtype_name(name)
        if name in contract.FLOAT_FEATURES:
            # Optional: an empty CSV cell is absent in CSV statistics and an empty float_list
            # (present, 0 values) in CsvExampleGen's tf.Examples; allow at most one value.
            feature.type = schema_pb2.FLOAT
            feature.value_count.max = 1
            feature.presence.min_count = 1
            low, high, _ = FLOAT_RANGES[name]
            feature.float_domain.min, feature.float_domain.max = low, high
            feature.float_domain.disallow_nan = True
            continue
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        feature.shape.dim.add(size=1)
        if kind == "string":
            feature.type = schema_pb2.BYTES
            feature.domain = name
        else:
            feature.type = schema_pb2.INT
            low, high, _ = INT_RANGES[name]
            feature.int_domain.min, feature.int_domain.max = low, high
        if name == contract.LABEL_KEY:
            feature.not_in_environment.append(SERVING)
    for name in contract.CATEGORICAL_FEATURES:
        values = sorted({str(v) for v in string_domains[name]})
        if not values:
            raise ValueError(f"string domain {name!r} is empty")
        schema.string_domain.add(name=name, value=values)
    schema.default_environment.extend([TRAINING, SERVING])
    return schema


def _comment(name: str) -> str:
    if name in INT_RANGES:
        return INT_RANGES[name][2]
    if name in FLOAT_RANGES:
        return FLOAT_RANGES[name][2]
    return STRING_COMMENTS[name]


HEADER = """\
# Curated schema of the flight-delay spans (tensorflow_metadata Schema, text format).
# Generated by `python -m data.schema_gen` from curated constants in data/schema_gen.py; only the
# string domains come from the data (every carrier / origin / dest seen in 2013). Edit the code, not
# this file: `python -m data.schema_gen --check` (and tests/data) fail when they disagree.
#
# - Every feature and the label are required (presence 1.0, one value) except the origin weather
#   and operations floats, which may be missing: at most one value, no presence fraction.
# - Ranges are physical / calendar limits, not the 2013 min/max, so new months validate unless a
#   value is impossible.
# - Environments: TRAINING (default) and SERVING; the label `late` is not in SERVING.
"""


def render_schema(schema) -> str:
    """Text proto with a comment per feature; parses back to the same Schema."""
    from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
    parts = [HEADER]
    for feature in schema.feature:
        body = text_format.MessageToString(feature, indent=2)
        parts.append(f"\n# {feature.name}: {_comment(feature.name)}\nfeature {{\n{body}}}\n")
    for domain in schema.string_domain:
        body = text_format.MessageToString(domain, indent=2)
        parts.append(f"\n# {domain.name}: {len(domain.value)} values seen in 2013\n"
                     f"string_domain {{\n{body}}}\n")
    parts.append("\n")
    parts.extend(f'default_environment: "{env}"\n' for env in schema.default_environment)
    return "".join(parts)


def load_schema(path: str | Path = SCHEMA_PATH):
    """Parse a text-format Schema file."""
    from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
    from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=import-outside-toplevel
    return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())


def string_domains_from_spans(spans_dir: str | Path) -> dict[str, list[str]]:
    """Sorted distinct carrier / origin / dest values over every span under ``spans_dir``."""
    from data import spans_io  # pylint: disable=import-outside-toplevel
    spans = spans_io.list_spans(spans_dir)
    if not spans:
        raise ValueError(f"{spans_dir}: no span-<N>/{spans_io.SPAN_FILE_NAME} files")
    seen: dict[str, set] = {name: set() for name in contract.CATEGORICAL_FEATURES}
    for span in spans:
        frame = spans_io.read_span(spans_io.span_path(spans_dir, span))
        for name in seen:
            seen[name].update(frame[name].dropna().astype(str))
    return {name: sorted(values) for name, values in seen.items()}


@click.command()
@click.option("--spans", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=Path("data/spans"), show_default=True, help="Spans giving the string domains.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=SCHEMA_PATH,
              show_default="data/schema/schema.pbtxt")
@click.option("--check", "check_only", is_flag=True, help="Fail if --out differs; write nothing.")
def main(spans, out, check_only):
    """Write (or --check) the curated schema."""
    text = render_schema(build_schema(string_domains_from_spans(spans)))
    if check_only:
        if not out.is_file() or out.read_text() != text:
            click.echo(f"FAIL {out}: differs from `python -m data.schema_gen --spans {spans}`",
                       err=True)
            sys.exit(1)
        click.echo(f"OK {out}")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter

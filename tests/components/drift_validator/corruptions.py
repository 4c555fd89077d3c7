"""Corruption catalogue: upstream bugs derived from a real span, each with the checks that must block it.

    .venv/bin/python -m tests.components.drift_validator.corruptions [--sample FRACTION] [--current N]

Each kind is a function frame -> corrupted frame (the frame of a real span, numpy dtypes as
pipeline.tools.drift_calibration.read_frame gives) and the (check, feature) pairs expected among the
blocking findings of the drift validator run with the flight policy against the previous span. The
command prints, per kind, every blocking finding with its figure (the README table).
"""
import argparse
import dataclasses
from typing import Callable, Dict, Tuple

import numpy as np
import pandas as pd

from components.drift_validator import drift


@dataclasses.dataclass(frozen=True)
class Corruption:
    description: str
    corrupt: Callable[[pd.DataFrame], pd.DataFrame]
    expected: Tuple[str, ...]  # "check:feature" names that must be among the report's `blocking`


def _fahrenheit_to_celsius(frame):
    out = frame.copy()
    for column in ("temp", "dewp"):
        out[column] = (out[column] - 32) * 5 / 9
    return out


def _miles_to_km(frame):
    return frame.assign(distance=(frame["distance"] * 1.609344).round().astype("int64"))


def _timezone_shift(frame):
    # Local (EST/EDT) hours written as UTC: +5 hours, wrapped into 0..23.
    return frame.assign(sched_dep_hour=(frame["sched_dep_hour"] + 5) % 24,
                        sched_arr_hour=(frame["sched_arr_hour"] + 5) % 24)


def _carrier_relabel(frame):
    return frame.assign(carrier=frame["carrier"].str.lower())


def _busiest_destinations_vanish(frame):
    busiest = frame["dest"].value_counts().index[:12]
    return frame[~frame["dest"].isin(busiest)]


def _second_half_of_month_dropped(frame):
    # A partition (days 16..31) missing upstream: rows dropped by a key.
    return frame[frame["day"] <= 15]


def _duplicated_rows(frame):
    repeated = frame.sample(frac=0.1, random_state=1)
    return pd.concat([frame, repeated], ignore_index=True)


def _null_spike(frame):
    out = frame.copy()
    out.loc[out.sample(frac=0.3, random_state=2).index, "temp"] = np.nan
    return out


def _label_inverted(frame):
    return frame.assign(late=1 - frame["late"])


def _columns_swapped(frame):
    return frame.assign(wind_speed=frame["wind_gust"], wind_gust=frame["wind_speed"])


def _constant_column(frame):
    return frame.assign(pressure=1013.25)


def _visibility_in_km(frame):
    return frame.assign(visib=frame["visib"] * 1.609344)


CORRUPTIONS: Dict[str, Corruption] = {
    "unit_f_to_c": Corruption("temp and dewp converted from °F to °C", _fahrenheit_to_celsius,
                              ("distribution:temp", "distribution:dewp")),
    "scale_miles_to_km": Corruption("distance in km instead of miles", _miles_to_km,
                                    ("distribution:distance",)),
    "timezone_shift": Corruption("schedule hours in UTC instead of local time (+5 h)", _timezone_shift,
                                 ("distribution:sched_dep_hour", "distribution:sched_arr_hour")),
    "category_relabel": Corruption("carrier codes lower-cased", _carrier_relabel,
                                   ("categories_vanished:carrier", "categories_appeared:carrier")),
    "category_vanish": Corruption("the 12 busiest destinations missing", _busiest_destinations_vanish,
                                  ("categories_vanished:dest", "row_count")),
    "rows_dropped_by_key": Corruption("days 16..31 of the month missing", _second_half_of_month_dropped,
                                      ("distribution:day", "row_count")),
    "duplicated_rows": Corruption("10% of the rows written twice", _duplicated_rows, ("duplicates",)),
    "null_spike": Corruption("temp missing in 30% of the rows", _null_spike, ("missing_rate:temp",)),
    "label_corruption": Corruption("label inverted (1 - late)", _label_inverted, ("label_rate:late",)),
    "columns_swapped": Corruption("wind_speed and wind_gust swapped", _columns_swapped,
                                  ("distribution:wind_speed", "distribution:wind_gust")),
    "constant_column": Corruption("pressure constant (a default filled in)", _constant_column,
                                  ("constant:pressure",)),
    "out_of_range": Corruption("visibility in km instead of miles", _visibility_in_km,
                               ("schema_range:visib",)),
}


def blocking_findings(report):
    """{"check:feature": figure} of everything that blocked; a constant column shows the baseline spread."""
    found = drift.figures(report, "block")
    for c in report["checks"]:
        if c["check"] == "constant" and c["status"] == "block":
            found[f"constant:{c['feature']}"] = f"one value; baseline spread {c['baseline_value']:.3g}"
    return found


def _figure(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main(argv=None):
    import tensorflow_data_validation as tfdv  # pylint: disable=import-outside-toplevel
    from pipeline.tools import drift_calibration as cal  # pylint: disable=import-outside-toplevel
    parser = argparse.ArgumentParser(description="corruption catalogue figures")
    parser.add_argument("--data", default=cal.DATA_ROOT)
    parser.add_argument("--current", type=int, default=6, help="span to corrupt (baseline: the one before)")
    parser.add_argument("--sample", type=float, default=None)
    args = parser.parse_args(argv)
    schema = tfdv.load_schema_text(cal.SCHEMA_PATH)
    config = cal.flight_drift_config()
    baseline, current = (cal.read_frame(args.data, s) for s in (args.current - 1, args.current))
    if args.sample:
        baseline = baseline.sample(frac=args.sample, random_state=0)
        current = current.sample(frac=args.sample, random_state=1)
    baseline_stats = cal.statistics_of(baseline)
    print("| kind | corruption | blocked | expected check:feature (figure) | also blocking |")
    print("| --- | --- | --- | --- | --- |")
    for name, c in CORRUPTIONS.items():
        frame = c.corrupt(current)
        stats = cal.statistics_of(frame)
        report = drift.validate_drift(stats, baseline_stats, schema, config,
                                      anomalies=tfdv.validate_statistics(stats, schema),
                                      duplicate_counts=cal.duplicate_counts(frame))
        figures = blocking_findings(report)
        expected = ", ".join(f"{k} ({_figure(figures[k])})" if k in figures else f"{k} (NOT BLOCKED)"
                             for k in c.expected)
        others = ", ".join(f"{k} ({_figure(v)})" if v is not None else k
                           for k, v in figures.items() if k not in c.expected)
        print(f"| {name} | {c.description} | {'yes' if not report['blessed'] else 'NO'} | {expected} | {others} |")


if __name__ == "__main__":
    main()

"""Calibration of the flight drift policy on the real month-to-month transitions of 2013.

    python -m pipeline.tools.drift_calibration [--data data/spans] [--sample FRACTION] [--train-split] [--json]

Computes TFDV statistics of every span (full months, a random FRACTION of each, or with
--train-split the rows CsvExampleGen puts in the train split, which the pipeline compares), runs the drift
validator with the policy of pipeline/dag/configs.py on each adjacent pair (span N-1 -> N), and prints per
feature and per dataset check the largest real value, the thresholds and the margin (block threshold
minus the largest value), then each transition's verdict; ExampleValidator's schema anomalies are
computed the way it does (`tfdv.validate_statistics` with the curated schema) and gated too. Exit
status 1 when a real transition blocks.
"""
import argparse
import json
import sys
from typing import Any, Dict, List, Optional

import pandas as pd

from components.drift_validator import checks, drift, duplicates
from data import contract, spans_io
from pipeline.dag import configs

DATA_ROOT = "data/spans"
SCHEMA_PATH = "data/schema/schema.pbtxt"


flight_drift_config = configs.drift_config  # the policy the pipeline's DriftValidator applies


def read_frame(data_root: str, span: int) -> pd.DataFrame:
    """A span file as a frame with numpy dtypes (int64, float64 with NaN for missing weather, object)."""
    frame = spans_io.read_span(spans_io.span_path(data_root, span))
    numpy = {"int64": "int64", "float32": "float64", "string": object}
    return frame.astype({c: numpy[contract.tf_dtype_name(c)] for c in frame.columns})


def statistics_of(frame: pd.DataFrame):
    """TFDV statistics of a frame (missing weather cells count as missing values, as in StatisticsGen)."""
    import tensorflow_data_validation as tfdv  # pylint: disable=import-outside-toplevel
    return tfdv.generate_statistics_from_dataframe(frame.reset_index(drop=True))


def duplicate_counts(frame: pd.DataFrame):
    """(rows, duplicated rows) of a frame, keyed by a hash of each row's content."""
    return duplicates.count_duplicates(pd.util.hash_pandas_object(frame, index=False).tolist())


def train_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows CsvExampleGen puts in the train split (the ordered split's own assignment of whole days,
    create_pipeline's split config)."""
    from components.ordered_split import assign_splits  # pylint: disable=import-outside-toplevel
    from pipeline.dag.pipeline import split_config  # pylint: disable=import-outside-toplevel
    config = split_config()
    name = config.partition_feature_name
    splits = assign_splits(frame[name].value_counts().to_dict(), [s.hash_buckets for s in config.splits], name)
    train = [s.name for s in config.splits].index("train")
    return frame[frame[name].map(splits) == train]


def transitions(data_root: str = DATA_ROOT, sample: Optional[float] = None, seed: int = 0,
                config: Optional[drift.DriftConfig] = None, train_split: bool = False) -> List[Dict[str, Any]]:
    """The report of every adjacent pair of spans under `data_root`, oldest first."""
    import tensorflow_data_validation as tfdv  # pylint: disable=import-outside-toplevel
    config = config or flight_drift_config()
    schema = tfdv.load_schema_text(SCHEMA_PATH)
    spans = spans_io.list_spans(data_root)
    stats, dups = {}, {}
    for span in spans:
        frame = read_frame(data_root, span)
        if train_split:
            frame = train_rows(frame)
        if sample:
            frame = frame.sample(frac=sample, random_state=seed + span)
        stats[span], dups[span] = statistics_of(frame), duplicate_counts(frame)
    reports = []
    for previous, span in zip(spans, spans[1:]):
        # ExampleValidator's anomalies are this same call on the span's statistics and the schema.
        report = drift.validate_drift(stats[span], stats[previous], schema, config,
                                      anomalies=tfdv.validate_statistics(stats[span], schema),
                                      duplicate_counts=dups[span])
        report["transition"] = f"{previous}->{span}"
        reports.append(report)
    return reports


def calibration_table(reports: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per feature distance, label shift and dataset check: the largest real value and its margin."""
    rows: Dict[tuple, Dict[str, Any]] = {}

    def add(check, feature, value, warn, block, transition):
        row = rows.setdefault((check, feature), {"check": check, "feature": feature, "max": None,
                                                 "at": None, "warn": warn, "block": block})
        if value is not None and (row["max"] is None or value > row["max"]):
            row.update(max=value, at=transition)

    for r in reports:
        t = r["transition"]
        for f in r["features"]:
            add("distribution", f["feature"], f["distance"], f["warn_threshold"], f["block_threshold"], t)
        if r["label"]:
            add("label_rate", r["label"]["feature"], r["label"]["abs_change"], None, r["label"]["threshold"], t)
        for c in r["checks"]:
            if c["check"] == checks.ROW_COUNT:  # a ratio inside bounds: report the distance to 1
                low_high = c["block"] or (0, float("inf"))
                add("row_count (|ratio - 1|)", None, abs(c["value"] - 1), None,
                    min(1 - low_high[0], low_high[1] - 1), t)
            else:
                add(c["check"], c["feature"], c["value"], c["warn"], c["block"], t)
    result = []
    for row in rows.values():
        block = row["block"] if isinstance(row["block"], (int, float)) and not isinstance(row["block"], bool) else None
        row["margin"] = block - row["max"] if block is not None and row["max"] is not None else None
        result.append(row)
    return result


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA_ROOT)
    parser.add_argument("--sample", type=float, default=None, help="fraction of each span (default: full)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-split", action="store_true", help="only the rows of ExampleGen's train split")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    reports = transitions(args.data, args.sample, args.seed, train_split=args.train_split)
    table = calibration_table(reports)
    verdicts = [{"transition": r["transition"], "verdict": r["verdict"], "blocking": drift.figures(r, "block"),
                 "warnings": drift.figures(r, "warn")} for r in reports]
    blocked = [v for v in verdicts if v["blocking"]]
    if args.json:
        print(json.dumps({"sample": args.sample, "train_split": args.train_split, "table": table,
                          "transitions": verdicts}, indent=2))
        return int(bool(blocked))
    print(f"{'check':<26} {'feature':<17} {'largest real':>12} {'at':>6} {'warn':>7} {'block':>7} {'margin':>7}")
    for row in table:
        warn = row["warn"] if not isinstance(row["warn"], bool) else None
        print(f"{row['check']:<26} {row['feature'] or '(dataset)':<17} {_fmt(row['max']):>12} "
              f"{row['at'] or '':>6} {_fmt(warn):>7} {_fmt(row['block'] if not isinstance(row['block'], bool) else None):>7} "
              f"{_fmt(row['margin']):>7}")
    print()
    for v in verdicts:
        print(f"{v['transition']:>6} {v['verdict']:<8} " + ", ".join(
            f"{name} {_fmt(value)}" for name, value in {**v["blocking"], **v["warnings"]}.items()))
    warned = [v for v in verdicts if v["warnings"]]
    print(f"\n{len(verdicts) - len(blocked)}/{len(verdicts)} real transitions pass without a block; "
          f"{len(warned)}/{len(verdicts)} warn.")
    return int(bool(blocked))


if __name__ == "__main__":
    sys.exit(main())

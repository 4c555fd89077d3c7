"""A served model from a real pipeline run on the fixture spans, and request logs it answered (e2e: shared by the
monitoring tests; --retrain adds a run on span 2, so that test goes last)."""
import os
import shutil

import pandas as pd
import pytest

from data.paths import REPO_ROOT
from tests.pipeline.monitor import traffic

FIXTURE_SPANS = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """Span 1 run through the pipeline (pushed); spans 1 and 2 in its data folder. {data, output, metadata,
    version, model_dir, span}."""
    from data import mlmd_store
    from pipeline.local import runner
    from serving.delivery import registry
    data = tmp_path_factory.mktemp("monitor-spans")
    for span in (1, 2):
        shutil.copytree(os.path.join(FIXTURE_SPANS, f"span-{span}"), data / f"span-{span}")
    out = str(tmp_path_factory.mktemp("monitor-pipeline"))
    result = runner.run_local(str(data), out, span=1, hparams={"epochs": 2}, progress=lambda m: None)
    assert result.summary.get("pushed"), "the fixture model must be served"
    store = mlmd_store.open_store(result.layout.metadata_path)
    [(version, pushed)] = registry.pushed_versions(store).items()
    return {"data": str(data), "output": out, "metadata": result.layout.metadata_path, "version": version,
            "model_dir": pushed.custom_properties["pushed_destination"].string_value, "span": 1}


@pytest.fixture(scope="session")
def request_logs(served, tmp_path_factory):
    """Log folders answered by the served model: its newest training span ("normal"), the same rows with
    temp and dewp in °C ("shifted"), the next month ("later"); and label files of the next month: real, and
    inverted on every day ("drop"). The fixture model's AUC on its eval week is only 0.53: a drop that a month
    of 1,500 flights shows beyond doubt has to be large (inverted on 60% of the days: live AUC 0.50, interval
    [-0.089, +0.030], rightly no alert)."""
    from tests.components.drift_validator.corruptions import CORRUPTIONS
    root = tmp_path_factory.mktemp("monitor-logs")
    answer = traffic.model_answers(served["model_dir"])
    span = traffic.read_span(served["data"], served["span"])
    later = traffic.read_span(served["data"], served["span"] + 1)
    folders = {}
    for name, frame in (("normal", span), ("shifted", CORRUPTIONS["unit_f_to_c"].corrupt(span)), ("later", later)):
        folders[name] = str(root / name)
        traffic.write_logs(folders[name], frame, answer, served["version"])
    csv = pd.read_csv(os.path.join(served["data"], f"span-{served['span'] + 1}", "flights.csv"))
    days = sorted(csv["day"].unique())
    labels = {"real": csv, "drop": _inverted(csv, days)}
    for name, frame in labels.items():
        folders[f"labels_{name}"] = str(root / f"labels-{name}.csv")
        frame.to_csv(folders[f"labels_{name}"], index=False)
    return folders


def _inverted(frame: pd.DataFrame, days) -> pd.DataFrame:
    out = frame.copy()
    rows = out["day"].isin(days)
    out.loc[rows, "late"] = 1 - out.loc[rows, "late"]
    return out

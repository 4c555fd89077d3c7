"""A real pipeline history shared by the DAG, summary, evaluation, page and lineage tests (e2e: they need it)."""
import os
import shutil

import pytest

from pipeline.local.runner import REPO_ROOT

FIXTURE_SPANS = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


@pytest.fixture(scope="session")
def pipeline_history(tmp_path_factory):
    """Three real runs (LocalDagRunner) into one output folder: span 1, span 1 again (cached), span 2.

    Shared by the DAG, summary, evaluation, page and lineage tests, which only read it.
    Returns {"layout", "metadata", "hparams", "runs": [RunResult, ...]}.
    """
    from pipeline.local import runner
    data = tmp_path_factory.mktemp("history-spans")
    for span in (1, 2):
        shutil.copytree(os.path.join(FIXTURE_SPANS, f"span-{span}"), data / f"span-{span}")
    out = str(tmp_path_factory.mktemp("history"))
    hparams = {"epochs": 2}  # with 1 the span-1 model can miss the AUC gate (then nothing is pushed)
    runs = [runner.run_local(str(data), out, span=span, hparams=hparams, progress=lambda m: None)
            for span in (1, 1, 2)]
    return {"layout": runs[0].layout, "metadata": runs[0].layout.metadata_path, "hparams": hparams, "runs": runs}

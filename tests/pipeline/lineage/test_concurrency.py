"""Several writers recording runs into one store at once: all finish, lineage stays complete."""
import multiprocessing

import pytest

from data import mlmd_store
from pipeline.lineage import query
from pipeline.tools.synthetic_lineage import pipeline_dag
from tests.conftest import BACKENDS

WRITERS, RUNS_EACH = 4, 4


def _span(r):
    return 1 + r % 3


def _writer(args):
    spec, w, dags = args
    from ml_metadata import errors
    from data import mlmd_store
    from pipeline.tools.synthetic_lineage import SyntheticPipeline
    store = mlmd_store.open_store(spec)
    # type/context registration races like TFX's: retry AlreadyExists the way TFX does
    for attempt in range(10):
        try:
            p = SyntheticPipeline(store, pipeline_name=f"pipe{w}",
                                  dag_of=lambda span=1, epochs=0, **_: dags[(span, epochs)])
            break
        except errors.AlreadyExistsError:
            continue
    return [p.run(_span(r), f"w{w}-r{r}", epochs=r)["model"] for r in range(RUNS_EACH)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_writers_on_a_fresh_store(backend, new_spec):
    from tests.pipeline.lineage.test_query import DAG, VALIDATORS  # (imports TFX: not in the writers)
    spec = new_spec(backend, "conc")
    # compiled here once: the writers (spawned processes) need not import TFX
    dags = {(_span(r), r): pipeline_dag(span=_span(r), epochs=r) for r in range(RUNS_EACH)}
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        models = pool.map(_writer, [(spec, w, dags) for w in range(WRITERS)])
    store = mlmd_store.open_store(spec)
    rows = query.runs(store)["runs"]
    assert len(rows) == WRITERS * RUNS_EACH
    assert all(not r["failed"] and r["executed"] + r["cached"] == len(DAG.nodes) for r in rows)
    for w, ids in enumerate(models):
        for r, model in enumerate(ids):
            t = query.trace(store, model)
            assert t["runs"] == [f"w{w}-r{r}"] and t["pipeline"] == f"pipe{w}"
            assert t["spans"] == [_span(r)]
            assert {v["node"] for v in t["validators"]} == VALIDATORS

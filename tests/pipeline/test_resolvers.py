"""Training-window resolution: one (the newest) Examples artifact per span, all spans required."""
import pytest
from tfx.types import standard_artifacts

from pipeline.resolvers import SpanWindowStrategy


def examples(artifact_id, span):
    artifact = standard_artifacts.Examples()
    artifact.id = artifact_id
    artifact.set_int_custom_property("span", span)
    return artifact


def test_window_keeps_the_newest_artifact_of_each_span_in_range():
    artifacts = [examples(1, 1), examples(2, 2), examples(3, 3), examples(4, 2), examples(5, 4)]
    resolved = SpanWindowStrategy(last_span=3, num_spans=2).resolve_artifacts(None, {"examples": artifacts})
    assert [(a.id, a.get_int_custom_property("span")) for a in resolved["examples"]] == [(4, 2), (3, 3)]


def test_window_with_a_span_never_ingested_fails_naming_it():
    artifacts = [examples(1, 1), examples(3, 3)]
    with pytest.raises(RuntimeError, match=r"needs span\(s\) \[2\]"):
        SpanWindowStrategy(last_span=3, num_spans=3).resolve_artifacts(None, {"examples": artifacts})

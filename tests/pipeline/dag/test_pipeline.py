"""create_pipeline's wiring (no run): what the behaviour validator is given to judge on."""
import json

from pipeline.dag import configs
from pipeline.dag.configs import EVALUATION_RESOLVER_ID
from pipeline.dag.pipeline import create_pipeline
from pipeline.dag.resolvers import SpanWindowStrategy


def _nodes(**kwargs):
    pipeline = create_pipeline("/root", "/data", "/schema.pbtxt", "/serving", **kwargs)
    return {node.id: node for node in pipeline.components}


def test_behaviour_validator_judges_on_eval_days_no_model_trained_on():
    """The eval splits of the last BEHAVIOR_EVAL_SPANS spans, pooled: the Trainer reads train splits only
    (train_args), so neither the candidate nor the serving model (trained on earlier spans) saw them."""
    nodes = _nodes(span=6, window=6)
    resolver = nodes[EVALUATION_RESOLVER_ID]
    assert resolver.exec_properties["resolver_class"] is SpanWindowStrategy
    assert resolver.exec_properties["source_uri"] == {"last_span": 6, "num_spans": configs.BEHAVIOR_EVAL_SPANS,
                                                      "every_span": False}
    behavior = nodes["BehaviorValidator"]
    assert behavior.inputs["examples"].producer_component_id == EVALUATION_RESOLVER_ID
    assert json.loads(nodes["Trainer"].exec_properties["train_args"]) == {"splits": ["train"]}
    assert nodes["Evaluator"].inputs["examples"].producer_component_id == "CsvExampleGen"  # this span


def test_without_a_known_span_or_on_vertex_the_validator_judges_this_span_alone():
    for nodes in (_nodes(), _nodes(span=6, vertex=True)):
        assert EVALUATION_RESOLVER_ID not in nodes
        assert nodes["BehaviorValidator"].inputs["examples"].producer_component_id == "CsvExampleGen"

"""`create_pipeline`: the one DAG definition used by every orchestrator (local and Vertex).

Pure: it reads no files and no environment; every path and option is an argument.
"""
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from google.protobuf.wrappers_pb2 import BoolValue
from tfx import v1 as tfx

from data import contract
from components.drift_validator import DriftValidator, latest_statistics_resolver, previous_span_statistics
from components.infra_validator import LocalInfraValidator
from components.behavior_validator import BehaviorValidator
from components.ordered_split import OrderedSplitCsvExampleGen
from components.served_model import Evaluator, ServedModel
from pipeline.dag import configs
from pipeline.dag.resolvers import LatestPushedModelFromEarlierSpanStrategy, SpanWindowStrategy

PIPELINE_NAME = configs.PIPELINE_NAME
SPAN_PATTERN = "span-{SPAN}/*"
EXAMPLE_GEN_ID = "CsvExampleGen"
TRAINER_RUN_FN = "pipeline.model.trainer.run_fn"
EVALUATOR_MODULE = "pipeline.dag.tfma_loader"
# The model being served (latest push of an earlier span): the Evaluator's and behaviour validator's
# baseline and the Trainer's warm-start base model.
BASELINE_RESOLVER_ID = "serving_model_resolver"


def eval_config(min_auc: float = configs.MIN_AUC, max_auc_drop: float = configs.MAX_AUC_DROP) -> tfma.EvalConfig:
    """AUC, AUC-PR, precision/recall/F1 at the decision threshold, calibration and counts, ROC/PR and
    calibration plots, overall and by carrier and origin; AUC gates blessing (absolute floor, and no
    worse than baseline)."""
    at_threshold = '{"thresholds": [%s]}' % contract.DECISION_THRESHOLD
    # 1,000 buckets (TFMA's default is 10,000) resolve AUC to 1e-3 and cut the per-slice histogram work.
    curve = '{"num_thresholds": 1000}'
    auc_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_auc}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_auc_drop}))
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="AUC", config=curve, per_slice_thresholds=[  # gate on the overall slice only
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=auc_threshold)]),
        tfma.MetricConfig(class_name="AUCPrecisionRecall", config=curve),
        tfma.MetricConfig(class_name="Precision", config=at_threshold),
        tfma.MetricConfig(class_name="Recall", config=at_threshold),
        tfma.MetricConfig(class_name="F1Score", config=at_threshold),
        tfma.MetricConfig(class_name="Calibration"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
        # For the report pages' ROC, precision-recall and calibration plots (pipeline/pages/run_pages.py).
        tfma.MetricConfig(class_name="ConfusionMatrixPlot", config='{"num_thresholds": 100}'),
        tfma.MetricConfig(class_name="CalibrationPlot", config='{"num_buckets": 20}'),
    ]
    return tfma.EvalConfig(
        # Signature-based evaluation of a generic SavedModel: naming the type spares TFMA a trial
        # load of the model as Keras just to find out.
        model_specs=[tfma.ModelSpec(signature_name=contract.EXAMPLES_SIGNATURE, label_key=contract.LABEL_KEY,
                                    prediction_key=contract.PREDICTION_KEY, model_type=tfma.TF_GENERIC)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["carrier"]),
                       tfma.SlicingSpec(feature_keys=["origin"])],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        # The metrics above are all we report; TFMA's default "compiled Keras metrics" would load the
        # Keras model once per combiner (~1.5 s each) just to recompute the training metrics.
        options=tfma.Options(include_default_metrics=BoolValue(value=False)))


def split_config() -> tfx.proto.SplitConfig:
    """Train/eval in time: a span's days in order, the last ones (configs.SPLIT_SHARES) for eval."""
    return tfx.proto.SplitConfig(
        splits=[tfx.proto.SplitConfig.Split(name=name, hash_buckets=share) for name, share in configs.SPLIT_SHARES],
        partition_feature_name=configs.SPLIT_PARTITION_FEATURE)


def example_gen_component(data_root: str, span: Optional[int] = None) -> OrderedSplitCsvExampleGen:
    """CsvExampleGen of `span` (None: the latest) with the ordered split (components/ordered_split): all
    flights of a day on one side, so the eval split cannot recognise an hour's weather or delay cascade it
    trained on, and eval days come after the training days."""
    range_config = None
    if span is not None:
        range_config = tfx.proto.RangeConfig(
            static_range=tfx.proto.StaticRange(start_span_number=span, end_span_number=span))
    return OrderedSplitCsvExampleGen(
        input_base=data_root,
        input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single_split", pattern=SPAN_PATTERN)]),
        output_config=tfx.proto.Output(split_config=split_config()),
        range_config=range_config).with_id(EXAMPLE_GEN_ID)


def _drift_baseline(statistics_gen, vertex: bool):
    """(node to add or None, channel) of the statistics this span's drift is measured against: the previous
    span's (none on the first span). KubeflowV2 compiles Resolver nodes, not resolver functions."""
    if vertex:
        previous_statistics = latest_statistics_resolver(statistics_gen)
        statistics_gen.add_upstream_node(previous_statistics)
        return previous_statistics, previous_statistics.outputs["statistics"]
    return None, previous_span_statistics(statistics_gen.outputs["statistics"])


def _serving_model(span: Optional[int], vertex: bool, serving_model_dir: str, model_name: str,
                   serving_model_config: str):
    """The model being served. Locally a resolver over MLMD: the registry's stable version, else the latest
    push, among models of earlier spans (pipeline/dag/resolvers.py). On Vertex, whose resolvers run TFX's
    stock strategies only, ServedModel reads the serving destination (its `stable` label in
    `serving_model_config`, else the newest push; never cached: pipeline/vertex/compile.py)."""
    if vertex:
        return ServedModel(serving_model_dir=serving_model_dir, model_name=model_name,
                           model_config=serving_model_config).with_id(BASELINE_RESOLVER_ID)
    return tfx.dsl.Resolver(
        strategy_class=LatestPushedModelFromEarlierSpanStrategy, config={"before_span": span},
        pushed_model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.PushedModel),
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
    ).with_id(BASELINE_RESOLVER_ID)


def _span_window(node_id: str, example_gen, span: int, num_spans: int, **config) -> tfx.dsl.Resolver:
    """The newest Examples of each of the last `num_spans` spans up to `span` (SpanWindowStrategy)."""
    resolver = tfx.dsl.Resolver(
        strategy_class=SpanWindowStrategy, config={"last_span": span, "num_spans": num_spans, **config},
        examples=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples, producer_component_id=example_gen.id),
    ).with_id(node_id)
    resolver.add_upstream_node(example_gen)  # this run's span is part of the window
    return resolver


def _model_nodes(training_examples, evaluation_examples, example_gen, schema_gen, baseline_resolver,
                 serving_model_dir: str, *, hparams, model_family, code_version, min_auc, max_auc_drop,
                 model_name):
    """Trainer, Evaluator, BehaviorValidator, LocalInfraValidator and Pusher (built inside the drift gate)."""
    trainer = tfx.components.Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=training_examples,
        schema=schema_gen.outputs["schema"],
        base_model=baseline_resolver.outputs["model"],  # warm start from the serving model
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config={"hparams": hparams or {}, "code_version": code_version, "family": model_family})

    evaluator = Evaluator(  # TFX's, also taking ServedModel's output when nothing is served
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=eval_config(min_auc, max_auc_drop),
        module_path=EVALUATOR_MODULE)  # registers a model's custom ops (TF-DF) before TFMA loads it

    # Its blessing: behaviour checks passed AND the Evaluator blessed the model.
    behavior_validator = BehaviorValidator(
        model=trainer.outputs["model"],
        examples=evaluation_examples,
        schema=schema_gen.outputs["schema"],
        baseline_model=baseline_resolver.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        config=configs.BEHAVIOR_VALIDATOR_CONFIG)

    infra_validator = LocalInfraValidator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        **configs.infra_validator_args(model_name))

    # Pusher needs all three verdicts: Evaluator's (folded into the behaviour validator's blessing)
    # and InfraValidator's; it pushes the warmed-up model InfraValidator stamped. (A Cond nested in
    # the drift Cond would fail input resolution when the drift gate skips the validators.)
    pusher = tfx.components.Pusher(
        model_blessing=behavior_validator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)))
    return trainer, evaluator, behavior_validator, infra_validator, pusher


def create_pipeline(
    pipeline_root: str,
    data_root: str,
    schema_path: str,
    serving_model_dir: str,
    *,
    pipeline_name: str = PIPELINE_NAME,
    metadata_connection_config=None,
    span: Optional[int] = None,
    window: int = 1,
    beam_pipeline_args: Optional[List[str]] = None,
    hparams: Optional[Dict] = None,
    model_family: str = configs.MODEL_FAMILY,
    code_version: str = "",
    min_auc: float = configs.MIN_AUC,
    max_auc_drop: float = configs.MAX_AUC_DROP,
    model_name: str = configs.MODEL_NAME,
    vertex: bool = False,
    serving_model_config: str = "",
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
    """Builds the flight-delay pipeline.

    Args:
      pipeline_root: where artifacts are written.
      data_root: folder holding `span-N/*.csv` span folders.
      schema_path: the curated schema (schema.pbtxt).
      serving_model_dir: Pusher's base directory (TF Serving layout: <dir>/<version>/).
      span: train on this span; None = latest span.
      window: train on the last `window` spans up to `span` (ingested before: the local runner ingests
        missing ones first);
        evaluation and validation use `span` alone. Needs `span`.
      model_family: the Trainer's model family (pipeline/model/families.py).
      code_version: digest of the trainer code; part of the Trainer's cache key.
      vertex: build for KubeflowV2DagRunner (Resolver nodes instead of resolver functions, ServedModel as
        the baseline).
      serving_model_config: with `vertex`, the TF Serving models.config whose `stable` label names the
        served version (optional; else the newest version under serving_model_dir).
    """
    example_gen = example_gen_component(data_root, span)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    previous_statistics, baseline_statistics = _drift_baseline(statistics_gen, vertex)
    drift_validator = DriftValidator(
        statistics=statistics_gen.outputs["statistics"],
        baseline_statistics=baseline_statistics,
        schema=schema_gen.outputs["schema"],
        anomalies=example_validator.outputs["anomalies"],  # gated per anomaly kind (configs)
        examples=example_gen.outputs["examples"],          # read to count duplicated rows
        **configs.DRIFT_VALIDATOR)

    baseline_resolver = _serving_model(span, vertex, serving_model_dir, model_name, serving_model_config)

    training_examples = example_gen.outputs["examples"]
    window_resolver = None
    if window > 1:
        if span is None:
            raise ValueError("window > 1 needs an explicit span")
        window_resolver = _span_window("training_window_resolver", example_gen, span, window)
        training_examples = window_resolver.outputs["examples"]

    # The behaviour validator's evidence: the eval splits of the last configs.BEHAVIOR_EVAL_SPANS spans
    # that were ingested, pooled (Vertex compiles only the stock resolver strategies: this span's alone).
    evaluation_examples = example_gen.outputs["examples"]
    evaluation_resolver = None
    if span is not None and not vertex:
        evaluation_resolver = _span_window(configs.EVALUATION_RESOLVER_ID, example_gen, span,
                                           configs.BEHAVIOR_EVAL_SPANS, every_span=False)
        evaluation_examples = evaluation_resolver.outputs["examples"]

    # A blocking drift, label shift, dataset check or schema anomaly stops training on this span.
    with tfx.dsl.Cond(drift_validator.outputs["drift_report"].future()[0].custom_property("blessed") == 1):
        trainer, evaluator, behavior_validator, infra_validator, pusher = _model_nodes(
            training_examples, evaluation_examples, example_gen, schema_gen, baseline_resolver,
            serving_model_dir, hparams=hparams, model_family=model_family, code_version=code_version,
            min_auc=min_auc, max_auc_drop=max_auc_drop, model_name=model_name)

    components = [example_gen, statistics_gen, schema_gen, example_validator, drift_validator,
                  baseline_resolver, trainer, evaluator, behavior_validator, infra_validator, pusher]
    if previous_statistics is not None:
        components.insert(2, previous_statistics)
    if window_resolver is not None:
        components.insert(1, window_resolver)
    if evaluation_resolver is not None:
        components.insert(1, evaluation_resolver)
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )


def ingest_pipeline(pipeline_root: str, data_root: str, span: int, *, statistics: bool = True,
                    pipeline_name: str = PIPELINE_NAME, metadata_connection_config=None,
                    beam_pipeline_args: Optional[List[str]] = None, enable_cache: bool = True) -> tfx.dsl.Pipeline:
    """Ingests one span without training: create_pipeline's ExampleGen (and, with `statistics`, its
    StatisticsGen) nodes, same ids, so that a later run's training window (and drift baseline) find it."""
    example_gen = example_gen_component(data_root, span)
    components = [example_gen]
    if statistics:
        components.append(tfx.components.StatisticsGen(examples=example_gen.outputs["examples"]))
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=pipeline_root, components=components,
        enable_cache=enable_cache, metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [])

"""The drift gate compiles for Vertex (KubeflowV2DagRunner): Resolver-node baseline + Cond trigger."""
import json

from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components.drift_validator import DriftReport, DriftValidator
from components.drift_validator.resolver import latest_statistics_resolver
from pipeline.dag import configs
from tests.components.drift_validator.test_pipeline_e2e import gated_marker


def test_compiles_with_kubeflow_v2(tmp_path):
    stats = tfx.dsl.Importer(source_uri="gs://bucket/stats",
                             artifact_type=tfx.types.standard_artifacts.ExampleStatistics).with_id("stats")
    schema = tfx.dsl.Importer(source_uri="gs://bucket/schema",
                              artifact_type=tfx.types.standard_artifacts.Schema).with_id("schema")
    resolver = latest_statistics_resolver(stats, output_key="result")
    stats.add_upstream_node(resolver)
    validator = DriftValidator(statistics=stats.outputs["result"], schema=schema.outputs["result"],
                               baseline_statistics=resolver.outputs["statistics"], **configs.DRIFT_VALIDATOR)
    with tfx.dsl.Cond(validator.outputs["drift_report"].future()[0].custom_property("blessed") == 1):
        marker = gated_marker(report=validator.outputs["drift_report"])
    pipeline = tfx.dsl.Pipeline(pipeline_name="drift-vertex", pipeline_root="gs://bucket/root",
                                components=[resolver, stats, schema, validator, marker])
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image="image"),
        output_dir=str(tmp_path), output_filename="pipeline.json")
    runner.run(pipeline)

    with open(tmp_path / "pipeline.json") as f:
        spec = json.load(f)["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["stats"]["dependentTasks"] == [resolver.id]
    assert set(tasks["DriftValidator"]["dependentTasks"]) == {resolver.id, "stats", "schema"}
    condition = tasks["gated_marker"]["triggerPolicy"]["condition"]
    assert "drift_report" in condition and "metadata['blessed'] == 1" in condition
    query = spec["deploymentSpec"]["executors"][f"{resolver.id}_executor"]["resolver"]
    assert "tfx.ExampleStatistics" in query["outputArtifactQueries"]["statistics"]["filter"]
    params = spec["components"]["DriftValidator"]["inputDefinitions"]["parameters"]
    assert "component_version" in params
    assert DriftReport.TYPE_NAME in json.dumps(spec["components"]["DriftValidator"]["outputDefinitions"])

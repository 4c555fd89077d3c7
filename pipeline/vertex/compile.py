"""Compile `create_pipeline` for Vertex Pipelines (KubeflowV2DagRunner -> pipeline job JSON).

Beam arguments go on the Beam nodes only (those whose executor is a Beam executor: ExampleGen,
StatisticsGen, Evaluator, the Beam-based validators): DirectRunner in their container, or DataflowRunner
with the pipeline image as the workers' SDK container. Every other node (Trainer, InfraValidator,
Pusher, ...) gets none. A spec for Vertex names no local path; `allow_local_paths` is for run-local.
"""
import dataclasses
import json
import os
import re
from typing import Dict, List, Optional

BEAM_RUNNERS = ("direct", "dataflow")
# An absolute local path or file: URL, alone or as a flag's value (--setup_file=/...).
_LOCAL_PATH = re.compile(r"(^|=)(/|file:)")


class LocalPathError(ValueError):
    """A spec meant for Vertex names a path of this machine."""


@dataclasses.dataclass(frozen=True)
class Dataflow:
    """Where and how the Beam nodes run on Dataflow."""
    project: str
    region: str
    temp_location: str
    max_workers: Optional[int] = None
    machine_type: Optional[str] = None

    def beam_args(self, image: str) -> List[str]:
        args = ["--runner=DataflowRunner", f"--project={self.project}", f"--region={self.region}",
                f"--temp_location={self.temp_location}",
                # The workers run the pipeline image: this project, TFX and the same lock are there.
                f"--sdk_container_image={image}", "--sdk_location=container"]
        if self.max_workers:
            args.append(f"--max_num_workers={self.max_workers}")
        if self.machine_type:
            args.append(f"--machine_type={self.machine_type}")
        return args


def beam_args(image: str, dataflow: Optional[Dataflow] = None) -> List[str]:
    """Args of the Beam nodes. Direct: in-process in the node's container; naming the image as SDK
    container also tells TFX the dependencies are there (else it builds an sdist of itself per node)."""
    if dataflow is not None:
        return dataflow.beam_args(image)
    return ["--direct_running_mode=in_memory", "--direct_num_workers=1", f"--sdk_container_image={image}"]


def local_paths(value, local_roots: List[str]) -> List[str]:
    """Strings in a (nested, JSON-in-JSON) spec value that are local paths or name one of local_roots."""
    found = []
    if isinstance(value, dict):
        for v in value.values():
            found += local_paths(v, local_roots)
    elif isinstance(value, list):
        for v in value:
            found += local_paths(v, local_roots)
    elif isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                return local_paths(json.loads(text), local_roots)
            except ValueError:
                pass
        if _LOCAL_PATH.search(text) or any(root in text for root in local_roots):
            found.append(text)
    return found


def compile_for_vertex(output_path: str, *, pipeline_root: str, data_root: str, schema_path: str,
                       serving_model_dir: str, image: str, span: Optional[int] = None,
                       code_version: str = "", dataflow: Optional[Dataflow] = None,
                       allow_local_paths: bool = False) -> Dict:
    """Writes the Vertex pipeline job JSON to output_path (creating its folder) and returns it (parsed)."""
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipeline.dag.pipeline import BASELINE_RESOLVER_ID, create_pipeline
    from pipeline.local.runner import REPO_ROOT

    pipeline_def = create_pipeline(
        pipeline_root=pipeline_root, data_root=data_root, schema_path=schema_path,
        serving_model_dir=serving_model_dir, span=span, code_version=code_version, vertex=True,
        beam_pipeline_args=None)  # pipeline-level Beam args would go on every node
    for component in pipeline_def.components:
        tfx_pipeline.add_beam_pipeline_args_to_component(component, beam_args(image, dataflow))
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(output_path)),
        output_filename=os.path.basename(output_path))
    job = runner.run(pipeline_def, write_out=False)
    # The baseline (ServedModel) reads the serving destination, which changes between runs with the same
    # inputs: Vertex must never answer it from its cache.
    job["pipelineSpec"]["root"]["dag"]["tasks"][BASELINE_RESOLVER_ID]["cachingOptions"] = {"enableCache": False}
    if not allow_local_paths:
        found = local_paths(job, [REPO_ROOT])
        if found:
            raise LocalPathError(f"the spec names local path(s) {sorted(set(found))[:5]}: give gs:// "
                                 "locations (or compile for run-local)")
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    with open(output_path, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    return job

"""Compile `create_pipeline` for Vertex Pipelines (KubeflowV2DagRunner -> pipeline spec JSON).

The pipeline image must have this project installed (custom components and the trainer run there)
and the project's Keras choice set (pipeline/keras_choice.py); see README, "Vertex Pipelines".
"""
import os
from typing import Optional


def compile_for_vertex(output_path: str, *, pipeline_root: str, data_root: str, schema_path: str,
                       serving_model_dir: str, image: str, span: Optional[int] = None,
                       code_version: str = "") -> str:
    """Writes the Vertex pipeline JSON to output_path and returns it."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipeline.pipeline import create_pipeline

    pipeline_def = create_pipeline(
        pipeline_root=pipeline_root, data_root=data_root, schema_path=schema_path,
        serving_model_dir=serving_model_dir, span=span, code_version=code_version, vertex=True,
        # Vertex runs each Beam node in its own container: the DirectRunner in-process is right there too.
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(output_path)),
        output_filename=os.path.basename(output_path))
    runner.run(pipeline_def, write_out=True)
    return output_path

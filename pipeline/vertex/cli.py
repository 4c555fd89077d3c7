"""`python -m pipeline vertex compile|check-image|submit|run-local` (and `compile-vertex`, compile's old name).

stdout carries the result only (with --json one JSON document); logs and errors go to stderr.
"""
import json
import logging
import os
import sys
import tempfile

import click

from pipeline.local import runner
from pipeline.cli_support import fail
from pipeline.vertex import spec as vertex_spec

# Where check-image compiles a spec when given none (only the code it imports matters).
PLACEHOLDER_ROOT = "gs://check-image"


def _load(path: str) -> vertex_spec.Job:
    try:
        return vertex_spec.load(path)
    except vertex_spec.SpecError as e:
        fail(str(e))


@click.group("vertex")
def vertex():
    """Vertex Pipelines: compile the pipeline, check an image, submit, run a compiled spec locally."""


@vertex.command("compile")
@click.option("--output", default="flight-delay-vertex.json", show_default=True, help="Pipeline job JSON.")
@click.option("--pipeline-root", required=True, help="gs:// folder for artifacts.")
@click.option("--data", "data_root", required=True, help="gs:// folder of span-N/ folders.")
@click.option("--schema", "schema_path", required=True, help="gs:// path of schema.pbtxt.")
@click.option("--serving-model-dir", required=True, help="gs:// base path TF Serving reads.")
@click.option("--image", required=True, help="Pipeline image with this project installed (see Dockerfile).")
@click.option("--span", type=int, default=None, help="Span to train on; default: the latest.")
@click.option("--beam-runner", type=click.Choice(["direct", "dataflow"]), default="direct", show_default=True,
              help="Where the Beam nodes run: in their container, or on Dataflow.")
@click.option("--project", default=None, help="Dataflow: Google Cloud project.")
@click.option("--region", default=None, help="Dataflow: region.")
@click.option("--temp-location", default=None, help="Dataflow: gs:// temp folder.")
@click.option("--max-workers", type=click.IntRange(min=1), default=None, help="Dataflow: max workers per node.")
@click.option("--machine-type", default=None, help="Dataflow: worker machine type.")
@click.option("--local-paths", "allow_local_paths", is_flag=True,
              help="Allow local paths (a spec for `vertex run-local`, not for Vertex).")
def compile_command(output, pipeline_root, data_root, schema_path, serving_model_dir, image, span, beam_runner,
                    project, region, temp_location, max_workers, machine_type, allow_local_paths):
    """Compile the same pipeline for Vertex Pipelines (KubeflowV2DagRunner)."""
    from pipeline.vertex.compile import Dataflow, LocalPathError, compile_for_vertex

    dataflow = None
    if beam_runner == "dataflow":
        missing = [flag for flag, value in (("--project", project), ("--region", region),
                                            ("--temp-location", temp_location)) if not value]
        if missing:
            fail(f"--beam-runner dataflow needs {', '.join(missing)}", code=2)
        if not temp_location.startswith("gs://"):
            fail(f"--temp-location {temp_location!r}: Dataflow needs a gs:// folder", code=2)
        dataflow = Dataflow(project, region, temp_location, max_workers, machine_type)
    elif any((project, region, temp_location, max_workers, machine_type)):
        fail("--project/--region/--temp-location/--max-workers/--machine-type are for --beam-runner dataflow",
             code=2)
    if allow_local_paths:
        data_root, schema_path, pipeline_root, serving_model_dir = (
            p if "://" in p else os.path.abspath(p) for p in (data_root, schema_path, pipeline_root,
                                                              serving_model_dir))
    try:
        compile_for_vertex(output, pipeline_root=pipeline_root, data_root=data_root, schema_path=schema_path,
                           serving_model_dir=serving_model_dir, image=image, span=span,
                           code_version=runner.code_version(), dataflow=dataflow,
                           allow_local_paths=allow_local_paths)
    except LocalPathError as e:
        fail(str(e), code=2)
    except OSError as e:  # e.g. the folder cannot be created
        fail(f"--output {output}: {e.strerror or e}: {e.filename or output}")
    click.echo(f"Vertex pipeline spec written to {output}")


@vertex.command("check-image")
@click.argument("spec_path", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--require-model-server", is_flag=True, help="Also require the real tensorflow_model_server.")
def check_image_command(spec_path, require_model_server):
    """Import everything the spec's tasks run (default: a spec compiled here); fail naming what is missing."""
    from pipeline.vertex import check_image
    from pipeline.vertex.compile import compile_for_vertex

    with tempfile.TemporaryDirectory() as tmp:
        if spec_path is None:
            spec_path = os.path.join(tmp, "spec.json")
            compile_for_vertex(spec_path, pipeline_root=f"{PLACEHOLDER_ROOT}/root",
                               data_root=f"{PLACEHOLDER_ROOT}/spans", schema_path=f"{PLACEHOLDER_ROOT}/schema.pbtxt",
                               serving_model_dir=f"{PLACEHOLDER_ROOT}/serving", image="check-image",
                               code_version=runner.code_version())
        job = _load(spec_path)
        problems = check_image.check(job, require_model_server=require_model_server)
    for problem in problems:
        click.echo(f"MISSING {problem}", err=True)
    if problems:
        fail(f"{len(problems)} problem(s): this image cannot run {os.path.basename(spec_path)}")
    click.echo(f"OK: every task of {os.path.basename(spec_path)} ({len(job.tasks)}) can run here")


@vertex.command("submit")
@click.argument("spec_path", type=click.Path(dir_okay=False, exists=True))
@click.option("--project", required=True, help="Google Cloud project.")
@click.option("--region", required=True, help="Vertex AI region, e.g. europe-west4.")
@click.option("--service-account", default=None, help="Service account the pipeline runs as.")
@click.option("--network", default=None, help="VPC network to peer, projects/NUMBER/global/networks/NAME.")
@click.option("--labels", "labels", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--display-name", default=None, help="Default: the spec's.")
@click.option("--no-cache", is_flag=True, help="Vertex re-executes every task.")
@click.option("--dry-run", is_flag=True, help="Print the job that would be created; create nothing.")
@click.option("--api-endpoint", default=None,
              help="Vertex API endpoint (default: the region's); http:// endpoints are spoken to over REST.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
def submit_command(spec_path, project, region, service_account, network, labels, display_name, no_cache, dry_run,
                   api_endpoint, as_json):
    """Submit a compiled spec through the Vertex AI SDK (credentials: Application Default Credentials)."""
    # The SDK logs to stdout unless a stream handler is already there: give it stderr, before importing it.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    from pipeline.vertex import submit

    try:
        parsed_labels = submit.parse_labels(labels)
    except ValueError as e:
        fail(f"--labels: {e}", code=2)
    _load(spec_path)
    try:
        result = submit.submit(spec_path, project=project, region=region, service_account=service_account,
                               network=network, dry_run=dry_run, labels=parsed_labels,
                               enable_caching=not no_cache, display_name=display_name, api_endpoint=api_endpoint)
    except Exception as e:  # the SDK's errors (auth, permission, invalid job) are the user's to read
        fail(f"submit failed: {type(e).__name__}: {e}")
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    elif dry_run:
        click.echo(json.dumps(result["job"], indent=2, sort_keys=True))
    else:
        click.echo(f"Submitted {result['name']} ({result['state']})")


@vertex.command("run-local")
@click.argument("spec_path", type=click.Path(dir_okay=False, exists=True))
@click.option("--work-dir", required=True, type=click.Path(file_okay=False),
              help="Task outputs, executor inputs/outputs and logs go here.")
@click.option("--metadata", default=None, help="MLMD store answering the resolver tasks (default: <work-dir>/metadata.sqlite).")
@click.option("--json", "as_json", is_flag=True, help="Print the task states as one JSON document.")
def run_local_command(spec_path, work_dir, metadata, as_json):
    """Run a spec compiled with --local-paths task by task, as Vertex's launcher would."""
    from pipeline.vertex import launcher

    job = _load(spec_path)
    try:
        result = launcher.run(job, work_dir, metadata=metadata, progress=lambda m: click.echo(m, err=True))
    except launcher.TaskFailed as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        for task, state in result["tasks"].items():
            click.echo(f"  {task:<50} {state}")
        pushed = result["pushed"]
        click.echo(f"Pushed: version {pushed['version']} to {pushed['destination']}" if pushed["version"]
                   else f"Pushed: nothing ({pushed['why']})")
        click.echo(f"Run {result['run_id']}: metadata at {result['metadata']} "
                   f"(python -m pipeline lineage runs|trace --metadata {result['metadata']})")

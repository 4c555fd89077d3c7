"""`python -m serving serve`: start a model server (the real binary when installed, else ours) on pushed models."""
import os

import click

from components.infra_validator import model_server_process
from data.contract import MODEL_NAME
from serving.cli_support import DEFAULT_PUSH_DIR, fail as _fail
from serving.server import command as local_server


@click.command()
@click.option("--model-base-path", default=DEFAULT_PUSH_DIR, show_default=True,
              help="Push directory (numeric version sub-directories); the latest version is served.")
@click.option("--model-name", default=MODEL_NAME, show_default=True)
@click.option("--model-config-file", default="", help="ModelServerConfig text file (overrides the two above).")
@click.option("--port", default=local_server.GRPC_PORT, show_default=True, help="gRPC port.")
@click.option("--rest-api-port", default=local_server.REST_PORT, show_default=True, help="REST port (0 = off).")
@click.option("--bind-address", default="127.0.0.1", show_default=True)
@click.option("--monitoring-config-file", default="", help="MonitoringConfig text file (Prometheus).")
@click.option("--binary", type=click.Choice(["auto", "local", "tensorflow_model_server"]), default="auto",
              show_default=True, help="auto: the real binary when it is on PATH, else the local server.")
def serve(model_base_path, model_name, model_config_file, port, rest_api_port, bind_address,
          monitoring_config_file, binary):
    """Serve the latest pushed model of a push directory (blocks; Ctrl-C stops)."""
    from serving.server.server_core import list_versions
    if not model_config_file:
        versions = list_versions(model_base_path)
        if not versions:
            raise click.ClickException(
                f"no numeric model version under {model_base_path!r}: run the pipeline (make run) or pass"
                f" --model-base-path")
        click.echo(f"Serving {model_name} version {versions[-1]} from {model_base_path}", err=True)
    try:
        if binary == "local":
            command = model_server_process.resolve_command(local_server.COMMAND)
        elif binary == "tensorflow_model_server":
            real = model_server_process.real_binary()
            if not real:
                raise FileNotFoundError(f"{model_server_process.BINARY_NAME} is not on PATH and "
                                        f"{model_server_process.BINARY_ENV} is not set")
            command = [real]
        else:
            command = local_server.server_command()
        flags = [f"--port={port}", f"--rest_api_port={rest_api_port}"] + model_server_process.model_flags(
            model_name, "" if model_config_file else model_base_path, model_config_file)
        env = model_server_process.child_env(command)
    except (FileNotFoundError, ValueError) as exc:
        _fail(exc)
    if monitoring_config_file:
        flags.append(f"--monitoring_config_file={monitoring_config_file}")
    if not model_server_process.is_real_binary(command):
        flags.append(f"--bind_address={bind_address}")  # a flag of the local server only
    os.execve(command[0], command + flags, env)


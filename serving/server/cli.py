"""`python -m serving serve`: start a model server (the real binary when installed, else ours) on pushed models."""
import os
import sys

import click

from components.infra_validator import model_server_process
from data.contract import MODEL_NAME
from serving.cli_support import DEFAULT_PUSH_DIR, fail as _fail
from serving.server import command as local_server
from serving.server import protos

binary_option = click.option(
    "--binary", type=click.Choice(["auto", "local", "tensorflow_model_server"]), default="auto", show_default=True,
    help="auto: the real binary when it is on PATH, else the local server.")
bind_option = click.option("--bind-address", default="127.0.0.1", show_default=True,
                           help="Local server only (the binary binds 0.0.0.0).")


@click.command()
@click.option("--model-base-path", default=DEFAULT_PUSH_DIR, show_default=True,
              help="Push directory (numeric version sub-directories); the latest version is served.")
@click.option("--model-name", default=MODEL_NAME, show_default=True)
@click.option("--model-config-file", default="",
              help="Serve this ModelServerConfig text file instead (its versions and labels as written).")
@click.option("--port", default=local_server.GRPC_PORT, show_default=True, help="gRPC port.")
@click.option("--rest-api-port", default=local_server.REST_PORT, show_default=True, help="REST port (0 = off).")
@bind_option
@click.option("--monitoring-config-file", default="", help="MonitoringConfig text file (Prometheus).")
@binary_option
def serve(model_base_path, model_name, model_config_file, port, rest_api_port, bind_address,
          monitoring_config_file, binary):
    """Serve the latest pushed version of a push directory, labelled `stable` (blocks; Ctrl-C stops).

    Writes <push directory>/../models.config (that version, label stable), the file
    `labels set|promote|rollback --config` then edit.
    """
    from serving.server.server_core import list_versions
    if not model_config_file:
        versions = list_versions(model_base_path)
        if not versions:
            raise click.ClickException(
                f"no numeric model version under {model_base_path!r}: run the pipeline (make run) or pass"
                f" --model-base-path")
        model_config_file = serve_config_path(model_base_path)
        write_config(model_config_file, protos.serving_config(model_name, model_base_path, [versions[-1]],
                                                              {"stable": versions[-1]}))
        click.echo(f"Serving {model_name} version {versions[-1]} (label stable) from {model_base_path}; "
                   f"config {model_config_file}", err=True)
    exec_server(model_config_file, port, rest_api_port, bind_address, monitoring_config_file, binary)


def serve_config_path(model_base_path: str) -> str:
    """Where `serve` writes its models.config: next to the push directory."""
    return os.path.join(os.path.dirname(os.path.abspath(model_base_path).rstrip("/")), "models.config")


def write_config(path: str, config) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        protos.write_model_config(path, config)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc}")


def exec_server(config_path, port, rest_api_port, bind_address, monitoring_config_file, binary):
    """Replace this process by a model server on `config_path`; its labels may name versions that are
    still loading (--allow_version_labels_for_unavailable_models, see serving/README.md)."""
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
        flags = [f"--port={port}", f"--rest_api_port={rest_api_port}",
                 "--allow_version_labels_for_unavailable_models"] + model_server_process.model_flags(
            model_config_file=os.path.abspath(config_path))
        env = model_server_process.child_env(command)
    except (FileNotFoundError, ValueError) as exc:
        _fail(exc)
    if monitoring_config_file:
        flags.append(f"--monitoring_config_file={os.path.abspath(monitoring_config_file)}")
    if not model_server_process.is_real_binary(command):
        flags.append(f"--bind_address={bind_address}")  # a flag of the local server only
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command + flags, env)

"""Command line: `python -m pipeline run|ct|monitor|lineage|report|vertex ...` (console script `flight-pipeline`).

This module only registers the commands; each lives with its job (local/cli.py `run`, ct/cli.py `ct`,
monitor/cli.py `monitor`, lineage/cli.py, pages/site.py `report`, vertex/cli.py). stdout carries the result
only (with --json one JSON document); progress and errors go to stderr.
"""
import click


@click.group()
def cli():
    """Flight-delay TFX pipeline."""


def _register_subcommands():
    from pipeline.local.cli import run
    from pipeline.ct.cli import ct_command
    from pipeline.lineage.cli import lineage
    from pipeline.vertex.cli import compile_command, vertex
    from pipeline.pages.site import report
    from pipeline.monitor.cli import monitor
    cli.add_command(run)
    cli.add_command(lineage)
    cli.add_command(report)
    cli.add_command(vertex)
    cli.add_command(compile_command, "compile-vertex")  # the old name of `vertex compile`
    cli.add_command(ct_command)
    cli.add_command(monitor)


def main():
    _register_subcommands()
    cli()


if __name__ == "__main__":
    main()

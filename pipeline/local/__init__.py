"""Local runs: LocalDagRunner, span checks, the run summary, the `run` command."""

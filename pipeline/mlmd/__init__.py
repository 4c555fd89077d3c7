"""Reading ML-Metadata: records (artifacts, executions, the graph) and TFMA results."""

"""Lineage questions answered from ML-Metadata: trace, impact, runs, diff (+ table/JSON/DOT/HTML).

    python -m pipeline.lineage trace [served|latest|ARTIFACT_ID] [--format table|json|dot|html] [-o FILE]
    python -m pipeline.lineage impact SPAN|id:ARTIFACT_ID            # which models saw it; serving?
    python -m pipeline.lineage runs [--pipeline NAME] [--last N]     # executed vs cached, verdicts, pushes
    python -m pipeline.lineage diff RUN_A RUN_B                      # run ids or model references
    python -m pipeline.tools.lineage_bench                           # lineage API vs naive event walk

Every command takes ``--metadata`` (SQLite path or ``mysql://user@host:port/db`` with the password
in $MLMD_MYSQL_PASSWORD; default outputs/metadata.sqlite) and answers from MLMD alone;
``--read-files`` (trace, runs, diff) additionally reads TFMA metrics and schema files.
Library: :mod:`pipeline.lineage.query` (pure functions over a ``MetadataStore``); click group:
:data:`pipeline.lineage.cli.lineage`.
"""

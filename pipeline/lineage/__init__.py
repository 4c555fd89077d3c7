"""Lineage questions answered from ML-Metadata: trace, impact, runs, diff (+ table/JSON/DOT/HTML).

Library functions live in :mod:`pipeline.lineage.query`; the click group is
:data:`pipeline.lineage.cli.lineage`.
"""

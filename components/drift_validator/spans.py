"""The span of an artifact: the one definition used by the resolvers, the components and the lineage library.

TFX 1.16's ExampleGen keeps the span in a custom property (`examples.span`, the property, stays 0), and
StatisticsGen writes span 0 on its statistics. So: the custom property `span` when > 0, else the
property `span` when > 0, else None (unknown).
"""
from typing import Optional

SPAN = "span"


def artifact_span(artifact) -> Optional[int]:
    """Span of a TFX Artifact or of an MLMD Artifact proto; None when unknown (absent or 0)."""
    proto = getattr(artifact, "mlmd_artifact", artifact)
    for props in (proto.custom_properties, proto.properties):
        if SPAN in props and props[SPAN].int_value > 0:
            return int(props[SPAN].int_value)
    return None

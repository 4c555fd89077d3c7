"""The training window: the last K spans up to the trained span, or all of them (`--window K|all`)."""
from typing import Union

Window = Union[int, str]  # K spans, or "all"


def parse_window(value: Union[str, int]) -> Window:
    """`--window` value: a positive integer or 'all'; errors name the value."""
    if isinstance(value, int) or str(value).isdigit():
        if int(value) < 1:
            raise ValueError(f"--window must be >= 1 or 'all', got {value!r}")
        return int(value)
    if str(value).lower() == "all":
        return "all"
    raise ValueError(f"--window must be a positive integer or 'all', got {value!r}")


def window_for(span: int, window: Window) -> int:
    """Number of spans to train on for `span`: K (capped at spans 1..span), or all of 1..span. A local run
    ingests the spans of its window that the metadata store lacks (pipeline/local/runner.py)."""
    return span if window == "all" else min(int(window), span)

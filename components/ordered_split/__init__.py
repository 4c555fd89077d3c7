"""Ordered split for CsvExampleGen: whole values of an ordered feature per split, the last ones for eval."""
from components.ordered_split.split import SplitError, assign_splits

__all__ = ["OrderedSplitCsvExampleGen", "SplitError", "assign_splits"]


def __getattr__(name):  # the TFX component lazily: importing the split function stays cheap
    if name == "OrderedSplitCsvExampleGen":
        from components.ordered_split.component import OrderedSplitCsvExampleGen
        return OrderedSplitCsvExampleGen
    raise AttributeError(name)

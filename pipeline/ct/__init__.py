"""Continuous training: the month-by-month replay, forward scoring, its report and command."""

"""Serving benchmark and test support (nothing in production imports them)."""

"""Benchmarks and studies (nothing in production imports them)."""

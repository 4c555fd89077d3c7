"""Delivery: the registry, version labels, rollouts through nginx, canary analysis."""

"""Drift detection at 1,000,000 x 20 against Evidently: see :mod:`benchmarks.monitoring.run`."""

from benchmarks.monitoring.run import main

__all__ = ["main"]

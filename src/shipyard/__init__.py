"""Shipyard: the paved road from a tracked experiment to a governed production model."""

__version__ = "0.1.0"

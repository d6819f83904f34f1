"""``shipyard demo``: the golden path, as far as Shipyard has built it."""

from shipyard.demo.golden_path import run_demo

__all__ = ["run_demo"]

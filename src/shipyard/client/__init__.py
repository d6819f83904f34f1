"""The Python SDK: :class:`Client`, against a server or in-process (local mode)."""

from shipyard.client.client import Client

__all__ = ["Client"]

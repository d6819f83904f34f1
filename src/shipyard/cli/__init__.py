"""The ``shipyard`` command line (Typer + rich)."""

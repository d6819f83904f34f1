"""Promotion gates: policies of typed rules on (registered model, alias), checked against a
version's offline evaluation before the alias may move to it. Reference: ``docs/gates.md``."""

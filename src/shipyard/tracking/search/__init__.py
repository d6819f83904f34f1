"""Run search: MLflow's filter language plus OR and parentheses, ordering, keyset paging.

``search_runs`` is the service; ``parse_filter`` and ``parse_order_by`` expose the
parser alone (to validate input early, or to show a filter's canonical form). The
grammar is in :mod:`shipyard.tracking.search.parser`, the matching rules in
:mod:`shipyard.tracking.search.compiler`, the paging rules in
:mod:`shipyard.tracking.search.service`.
"""

from __future__ import annotations

from shipyard.tracking.search.nodes import And, Comparison, EntityType, Expr, Or, OrderKey
from shipyard.tracking.search.parser import parse_filter, parse_order_by
from shipyard.tracking.search.service import MAX_PAGE_SIZE, View, search_runs

__all__ = [
    "And",
    "Comparison",
    "EntityType",
    "Expr",
    "MAX_PAGE_SIZE",
    "Or",
    "OrderKey",
    "View",
    "parse_filter",
    "parse_order_by",
    "search_runs",
]

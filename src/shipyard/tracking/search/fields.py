"""What a filter can name: identifier types, run attributes and dataset fields."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shipyard.tracking.search.nodes import (
    IN,
    NOT_IN,
    NULL_OPS,
    NUMERIC_OPS,
    STRING_OPS,
    EntityType,
)

# Identifier prefixes, case-insensitive (MLflow's spellings).
TYPE_NAMES: dict[str, EntityType] = {
    "metric": EntityType.METRIC,
    "metrics": EntityType.METRIC,
    "param": EntityType.PARAM,
    "params": EntityType.PARAM,
    "parameter": EntityType.PARAM,
    "parameters": EntityType.PARAM,
    "tag": EntityType.TAG,
    "tags": EntityType.TAG,
    "attribute": EntityType.ATTRIBUTE,
    "attributes": EntityType.ATTRIBUTE,
    "attr": EntityType.ATTRIBUTE,
    "run": EntityType.ATTRIBUTE,
    "dataset": EntityType.DATASET,
    "datasets": EntityType.DATASET,
}


class ValueKind(enum.Enum):
    FLOAT = "a number"
    INT = "an integer"
    TIME = "an ISO-8601 time in quotes or epoch milliseconds"
    STRING = "a quoted string"


@dataclass(frozen=True)
class Field:
    name: str  # canonical
    kind: ValueKind
    nullable: bool = False
    orderable: bool = False

    @property
    def operators(self) -> tuple[str, ...]:
        if self.kind is ValueKind.STRING:
            ops: tuple[str, ...] = STRING_OPS
        elif self.kind is ValueKind.INT:
            ops = (*NUMERIC_OPS, IN, NOT_IN)
        else:
            ops = NUMERIC_OPS
        return (*ops, *NULL_OPS) if self.nullable else ops


_ATTRIBUTE_FIELDS = (
    Field("run_id", ValueKind.STRING, orderable=True),
    Field("run_name", ValueKind.STRING, orderable=True),
    Field("status", ValueKind.STRING, orderable=True),
    Field("user_id", ValueKind.STRING, orderable=True),
    Field("lifecycle_stage", ValueKind.STRING),
    Field("parent_run_id", ValueKind.STRING, nullable=True),
    Field("experiment_id", ValueKind.INT, orderable=True),
    Field("start_time", ValueKind.TIME, orderable=True),
    Field("end_time", ValueKind.TIME, nullable=True, orderable=True),
)
ATTRIBUTES: dict[str, Field] = {f.name: f for f in _ATTRIBUTE_FIELDS}
# Other spellings of the same attributes (MLflow's ``created`` is the start time).
ATTRIBUTE_ALIASES: dict[str, str] = {"id": "run_id", "name": "run_name", "created": "start_time"}

DATASET_FIELDS: dict[str, Field] = {name: Field(name, ValueKind.STRING) for name in ("name", "digest", "context")}

METRIC_FIELD = Field("", ValueKind.FLOAT, nullable=True, orderable=True)
PARAM_FIELD = Field("", ValueKind.STRING, nullable=True, orderable=True)  # also tags


def attribute(name: str) -> Field | None:
    lowered = name.lower()
    return ATTRIBUTES.get(ATTRIBUTE_ALIASES.get(lowered, lowered))


def field_for(type_: EntityType, key: str) -> Field | None:
    """The field an identifier names, or None if the attribute/dataset field is unknown."""
    if type_ is EntityType.METRIC:
        return METRIC_FIELD
    if type_ in (EntityType.PARAM, EntityType.TAG):
        return PARAM_FIELD
    if type_ is EntityType.ATTRIBUTE:
        return attribute(key)
    return DATASET_FIELDS.get(key.lower())

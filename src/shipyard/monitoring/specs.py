"""What users write to configure monitoring: the drift, data-quality and performance specs.

Plain pydantic models with no numerical dependency, so the schemas of monitors (and with them
the server, the SDK and the tables) load without numpy, pandas or scipy, which only the
computations need (:mod:`~shipyard.monitoring.drift`, :mod:`~shipyard.monitoring.quality`,
:mod:`~shipyard.monitoring.performance` re-export these classes next to the code that
applies them; their semantics are documented there and in ``docs/monitoring.md``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.models.signature import ColumnSpec, ModelSignature, ValueType
from shipyard.monitoring.errors import MonitoringInputError

# --- drift --------------------------------------------------------------------------------

ColumnKind = Literal["numeric", "categorical"]
Method = Literal["ks", "wasserstein", "psi", "chisquare", "z", "jensenshannon"]
MethodChoice = Literal["auto", "ks", "wasserstein", "psi", "chisquare", "z", "jensenshannon"]
ScoreType = Literal["p_value", "distance"]

DEFAULT_THRESHOLDS: dict[Method, float] = {
    "ks": 0.05,
    "wasserstein": 0.1,
    "psi": 0.1,
    "chisquare": 0.05,
    "z": 0.05,
    "jensenshannon": 0.1,
}
P_VALUE_METHODS: frozenset[Method] = frozenset({"ks", "chisquare", "z"})
NUMERIC_ONLY: frozenset[Method] = frozenset({"ks", "wasserstein"})


class DriftSpec(BaseModel):
    """What to compare and how. Every field has a default; ``DriftSpec()`` is Evidently's preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: list[str] | None = Field(default=None, description="Columns to compare; default every reference column.")
    kinds: dict[str, ColumnKind] = Field(default_factory=dict, description="Declared kinds; others are inferred.")
    numeric_method: MethodChoice = "auto"
    categorical_method: MethodChoice = "auto"
    column_methods: dict[str, MethodChoice] = Field(default_factory=dict, description="Per-column method override.")
    thresholds: dict[Method, float] = Field(default_factory=dict, description="Per-method threshold override.")
    column_thresholds: dict[str, float] = Field(default_factory=dict, description="Per-column threshold override.")
    drift_share: float = Field(default=0.5, gt=0, le=1, description="Dataset drifts at this share of drifted columns.")
    small_sample_limit: int = Field(default=1000, ge=1, description="auto: tests up to this many reference values.")
    few_values_limit: int = Field(default=5, ge=2, description="auto: numbers with this few values are categories.")
    integer_cardinality_limit: int = Field(
        default=10, ge=0, description="Integers with this few values are categorical."
    )
    psi_bins: int = Field(default=10, ge=2, description="PSI: number of reference-quantile bins.")
    psi_binning: Literal["quantile", "sturges"] = "quantile"
    psi_epsilon: float = Field(default=1e-4, gt=0, lt=1, description="PSI: share given to an empty bin.")
    chisquare_test: Literal["homogeneity", "goodness_of_fit"] = Field(
        default="homogeneity",
        description="homogeneity: two-sample test on the 2 x k table; goodness_of_fit: current counts against "
        "the reference shares taken as exact (Evidently's; more false alarms, since the reference is a sample too).",
    )

    @model_validator(mode="after")
    def _valid_thresholds(self) -> DriftSpec:
        for method, value in self.thresholds.items():
            _check_threshold(method, value, f"thresholds[{method!r}]")
        for column, value in self.column_thresholds.items():
            if not value > 0:
                raise ValueError(f"column_thresholds[{column!r}] must be > 0")
        return self

    def threshold_for(self, column: str, method: Method) -> float:
        if column in self.column_thresholds:
            value = self.column_thresholds[column]
            _check_threshold(method, value, f"column_thresholds[{column!r}]")
            return value
        return self.thresholds.get(method, DEFAULT_THRESHOLDS[method])


def _check_threshold(method: Method, value: float, where: str) -> None:
    if method in P_VALUE_METHODS and not 0 < value < 1:
        raise ValueError(f"{where}: {method} compares a p-value; its threshold must be in (0, 1)")
    if not value > 0:
        raise ValueError(f"{where} must be > 0")


# --- data quality -------------------------------------------------------------------------


Category = bool | int | float | str


class ColumnRule(BaseModel):
    """One expected column: a signature column plus optional range, categories and thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: ValueType | None = Field(default=None, description="Expected value type; None: not checked.")
    optional: bool = Field(default=False, description="The column may be absent.")
    minimum: float | None = None
    maximum: float | None = None
    categories: list[Category] | None = Field(default=None, description="Allowed values; None: not checked.")
    max_missing_rate: float | None = Field(default=None, ge=0, le=1)
    max_out_of_range_rate: float | None = Field(default=None, ge=0, le=1)
    max_unseen_rate: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _range_ordered(self) -> ColumnRule:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"column {self.name!r}: minimum {self.minimum} > maximum {self.maximum}")
        return self


class QualitySpec(BaseModel):
    """Expected columns and the thresholds of every check."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: list[ColumnRule] = Field(min_length=1)
    allow_extra_columns: bool = True
    max_missing_rate: float = Field(default=0.05, ge=0, le=1)
    max_out_of_range_rate: float = Field(default=0.01, ge=0, le=1)
    max_unseen_rate: float = Field(default=0.0, ge=0, le=1)
    max_duplicate_rate: float = Field(default=0.01, ge=0, le=1)
    check_duplicates: bool = True

    @model_validator(mode="after")
    def _unique_names(self) -> QualitySpec:
        names = [c.name for c in self.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"columns repeats {repeated}")
        return self

    @classmethod
    def from_signature(
        cls, signature: ModelSignature, *, include_outputs: bool = False, **settings: Any
    ) -> QualitySpec:
        """Columns and types of a column-based signature (inputs, and outputs if asked)."""
        specs = list(signature.inputs) + (list(signature.outputs or []) if include_outputs else [])
        columns = [s for s in specs if isinstance(s, ColumnSpec)]
        if len(columns) != len(specs):
            raise MonitoringInputError("the signature describes tensors, not columns; data quality needs columns")
        rules = [ColumnRule(name=s.name, type=s.type, optional=s.optional) for s in columns]
        return cls(columns=rules, **settings)


# --- performance --------------------------------------------------------------------------

Task = Literal["classification", "regression"]


class PerformanceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Task = "classification"
    prediction_column: str = Field(default="prediction", description="The log column holding the prediction.")
    score_column: str | None = Field(
        default=None,
        description="Class probabilities (the log's 'proba'), columns in the order of labels; optional.",
    )
    labels: list[bool | int | float | str] | None = Field(
        default=None, description="The classes, in the order of the score columns; default: those seen."
    )
    slices: list[str] = Field(default_factory=list, description="Columns to slice by (features or log columns).")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per metric: the floor (higher is better) or ceiling (errors)."
    )
    slice_tolerance: float | None = Field(
        default=None,
        gt=0,
        description="How much worse than the whole window a slice's primary metric may be; "
        "default 0.1 (absolute) for accuracy, 0.25 (relative) for rmse.",
    )
    max_drop_from_offline: float | None = Field(
        default=None,
        gt=0,
        description="Fail when the primary metric is worse than the model version's recorded offline evaluation by "
        "more than this (absolute for accuracy, relative for rmse); unset: the comparison is reported only.",
    )
    min_slice_rows: int = Field(default=30, ge=1, description="Slices with fewer labelled rows get no verdict.")
    max_slices: int = Field(default=50, ge=1, le=1000, description="Values per slice column, the most frequent.")

    @property
    def primary(self) -> str:
        return "accuracy" if self.task == "classification" else "rmse"

    @property
    def tolerance(self) -> float:
        if self.slice_tolerance is not None:
            return self.slice_tolerance
        return 0.1 if self.task == "classification" else 0.25


__all__ = [
    "DEFAULT_THRESHOLDS",
    "NUMERIC_ONLY",
    "P_VALUE_METHODS",
    "Category",
    "ColumnKind",
    "ColumnRule",
    "DriftSpec",
    "Method",
    "MethodChoice",
    "PerformanceSpec",
    "QualitySpec",
    "ScoreType",
    "Task",
]

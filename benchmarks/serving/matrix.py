"""What is measured: the series (a server variant spoken to in one protocol) and the cells
(model x concurrency x rows per request) each series runs."""

from __future__ import annotations

from dataclasses import dataclass

MODELS = ("iris", "gbm")
# variant groups the command line accepts (``--servers``); "shipyard" is both batching modes
DEFAULT_SERVERS = ("shipyard", "shipyard-nobatch", "bare", "kserve", "mlserver", "mlflow", "bentoml")
ALIASES = {"shipyard": ("shipyard", "shipyard-nobatch"), "shipyard-batch": ("shipyard",)}


@dataclass(frozen=True)
class Series:
    key: str
    variant: str
    protocol: str
    title: str
    peer: bool  # a competitor (not Shipyard, not the ceiling)


SERIES = (
    Series("shipyard-v2", "shipyard", "v2", "Shipyard V2", False),
    Series("shipyard-v2-nobatch", "shipyard-nobatch", "v2", "Shipyard V2, batching off", False),
    Series("shipyard-v1", "shipyard", "v1", "Shipyard V1", False),
    Series("shipyard-mlflow", "shipyard", "mlflow", "Shipyard /invocations", False),
    Series("bare", "bare", "bare", "bare ASGI (ceiling)", False),
    Series("kserve-v1", "kserve", "v1", "KServe V1", True),
    Series("kserve-v2", "kserve", "v2", "KServe V2", True),
    Series("mlserver", "mlserver", "v2", "MLServer V2", True),
    Series("mlserver-workers", "mlserver-workers", "v2", "MLServer V2, 1 worker process", True),
    Series("mlflow", "mlflow", "mlflow", "MLflow /invocations", True),
    Series("bentoml", "bentoml", "bentoml", "BentoML /predict", True),
)
HEADLINE = "shipyard-v2"  # the series every other is compared with

Cell = tuple[int, int]  # (concurrency, rows per request)

# Every series: single-row bodies at every concurrency, 100-row bodies at c=1 and at the
# model's middle concurrency (100-row x c=64 is left out for the peers: it is the slowest
# cell and adds little; Shipyard runs it).
FULL: dict[str, tuple[Cell, ...]] = {
    "iris": ((1, 1), (16, 1), (64, 1), (1, 100), (16, 100)),
    "gbm": ((1, 1), (16, 1), (32, 1), (64, 1), (1, 100), (32, 100)),
}
EXTRA: dict[str, dict[str, tuple[Cell, ...]]] = {"shipyard-v2": {"iris": ((64, 100),), "gbm": ((64, 100),)}}
# Shipyard's other protocols: the headline cells only, for a same-protocol comparison with
# KServe V1 and MLflow.
REDUCED: dict[str, tuple[Cell, ...]] = {"iris": ((16, 1), (16, 100)), "gbm": ((32, 1),)}
REDUCED_SERIES = ("shipyard-v1", "shipyard-mlflow")
QUICK: dict[str, tuple[Cell, ...]] = {"iris": ((1, 1), (16, 1), (16, 100)), "gbm": ((32, 1), (64, 1))}
QUICK_REDUCED: dict[str, tuple[Cell, ...]] = {"iris": ((16, 1),), "gbm": ()}
# ``--targets``: only the cells issue 4's targets are read from (V2, single rows), e.g. for a
# quick check of Shipyard against the bare ceiling: ``--servers shipyard,bare --targets``.
TARGETS: dict[str, tuple[Cell, ...]] = {"iris": ((1, 1), (16, 1)), "gbm": ((1, 1), (32, 1), (64, 1))}


def cells(series: Series, model: str, quick: bool, targets: bool = False) -> tuple[Cell, ...]:
    if targets:
        return () if series.key in REDUCED_SERIES else TARGETS[model]
    if quick:
        return (QUICK_REDUCED if series.key in REDUCED_SERIES else QUICK)[model]
    if series.key in REDUCED_SERIES:
        return REDUCED[model]
    return FULL[model] + EXTRA.get(series.key, {}).get(model, ())


def select_variants(names: list[str], known: list[str]) -> list[str]:
    """Variant keys for ``--servers`` names (aliases expanded), in the order given; unknown raise."""
    out: list[str] = []
    for name in names:
        expanded = ALIASES.get(name, (name,))
        for key in expanded:
            if key not in known:
                raise ValueError(f"unknown server {name!r}; known: {', '.join(sorted({*known, *ALIASES}))}")
            if key not in out:
                out.append(key)
    return out


def series_of(variant: str) -> list[Series]:
    return [s for s in SERIES if s.variant == variant]


def by_key() -> dict[str, Series]:
    return {s.key: s for s in SERIES}

"""Bootstrap resampling as weight matrices, percentile intervals, and McNemar's exact test.

A resample of ``n`` rows is the vector of how many times each row was drawn; ``B`` resamples
are a ``(B, n)`` matrix, produced in chunks of bounded size (``max_cells`` numbers), so every
metric of :mod:`shipyard.evaluation.metrics` is computed for a whole chunk at once. The same
draws serve the candidate and the baseline, which makes the deltas *paired*. The generator is
seeded, so the same inputs and seed give the same intervals.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from shipyard.evaluation.schemas import McNemar

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
MAX_CELLS = 2_000_000  # numbers per chunk of the weight matrix (16 MB of float64)
MIN_DEFINED_SHARE = 0.5  # fewer defined resamples than this share: no interval


def resample(
    n: int, count: int, seed: int | list[int], *, max_cells: int = MAX_CELLS
) -> Iterator[tuple[IntArray, FloatArray]]:
    """``count`` resamples of ``n`` rows, in chunks: the drawn row indices ``(b, n)`` and the
    matching weight matrix ``(b, n)``."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, max_cells // max(n, 1))
    done = 0
    while done < count:
        size = min(per_chunk, count - done)
        index = rng.integers(0, n, size=(size, n))
        offsets = index + (np.arange(size) * n)[:, None]
        weights = np.bincount(offsets.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        yield index, weights
        done += size


def interval(samples: FloatArray, confidence: float) -> tuple[float | None, float | None]:
    """The percentile interval of the defined (finite) samples; None when too few are defined."""
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0 or len(finite) < MIN_DEFINED_SHARE * len(samples):
        return None, None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def standard_error(samples: FloatArray) -> float | None:
    finite = samples[np.isfinite(samples)]
    if len(finite) < 2 or len(finite) < MIN_DEFINED_SHARE * len(samples):
        return None
    return float(np.std(finite, ddof=1))


def mcnemar(candidate_correct: NDArray[np.bool_], baseline_correct: NDArray[np.bool_]) -> McNemar:
    """McNemar's exact test: under H0 the discordant rows split 50/50 between the models."""
    candidate_only = int(np.count_nonzero(candidate_correct & ~baseline_correct))
    baseline_only = int(np.count_nonzero(baseline_correct & ~candidate_correct))
    discordant = candidate_only + baseline_only
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(candidate_only, discordant, 0.5).pvalue)
    return McNemar(candidate_only=candidate_only, baseline_only=baseline_only, p_value=min(p_value, 1.0))


__all__ = ["interval", "mcnemar", "resample", "standard_error"]

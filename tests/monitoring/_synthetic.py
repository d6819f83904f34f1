"""Synthetic windows whose drift is known: a clean generator and one injection per issue.

Columns: ``age`` (normal), ``income`` (log-normal), ``tenure`` (uniform), ``score``
(normal), ``region`` (4 categories), ``plan`` (2 categories), ``segment`` (3 slices)
and ``prediction`` (0/1, from ``score`` and ``segment``: positive rates 0.2 / 0.5 / 0.8 in
slices A / B / C, 0.5 overall).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west"]
SEGMENT_OFFSET = {"A": -0.8416, "B": 0.0, "C": 0.8416}  # N(0,1) quantiles: P(score + offset > 0) = .2/.5/.8


@dataclass(frozen=True)
class Injection:
    shift_age: float = 0.0  # in standard deviations of age
    new_region_share: float = 0.0  # share of rows moved to the new region "mars"
    tenure_missing: float = 0.0  # share of tenure values set missing
    flip_segment: str | None = None  # prediction flipped (1 - p) in this slice


def window(seed: int, n: int, injection: Injection | None = None) -> pd.DataFrame:
    inj = injection or Injection()
    rng = np.random.default_rng(seed)
    segment = rng.choice(list(SEGMENT_OFFSET), size=n)
    score = rng.normal(size=n)
    offset = np.array([SEGMENT_OFFSET[s] for s in segment])
    prediction = (score + offset > 0).astype(np.int64)
    if inj.flip_segment is not None:
        flip = segment == inj.flip_segment
        prediction[flip] = 1 - prediction[flip]
    region = rng.choice(REGIONS, size=n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    if inj.new_region_share:
        region[rng.random(n) < inj.new_region_share] = "mars"
    tenure = rng.uniform(0, 120, size=n)
    if inj.tenure_missing:
        tenure[rng.random(n) < inj.tenure_missing] = np.nan
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * inj.shift_age, 10, size=n),
            "income": rng.lognormal(10, 0.5, size=n),
            "tenure": tenure,
            "score": score,
            "region": region,
            "plan": rng.choice(["basic", "pro"], size=n, p=[0.7, 0.3]).astype(object),
            "segment": segment.astype(object),
            "prediction": prediction,
        }
    )


ALL = Injection(shift_age=0.5, new_region_share=0.2, tenure_missing=0.3, flip_segment="C")

"""Whether V decreased monotonically: the one rise rule of the natgrad experiments and the report
(torch-free, so the report's tables need no torch)."""

from __future__ import annotations

import numpy as np

RISE_RTOL = 1e-9   # a rise of V is V[t+1] > V[t] (1 + rtol) + atol (rounding is not a rise)
RISE_ATOL = 1e-15


def rises(v: np.ndarray, rtol: float = RISE_RTOL) -> int:
    """How many steps increased V by more than rtol of its value plus rounding, or took a finite V to
    a non-finite one (v: one run's V per step); 0 = monotone. The one rule of every natgrad
    experiment and of the report."""
    v = np.asarray(v, dtype=float)
    lost = ~np.isfinite(v[1:]) & np.isfinite(v[:-1])
    return int(((v[1:] > v[:-1] * (1 + rtol) + RISE_ATOL) | lost).sum())

"""Whether a run's quality metric has plateaued: its typical value over the last `window` of the
training steps against the window before, so that the report judges claims on settled runs only
(a run still improving measures the step budget, not the optimizer). One-sided: a run that got
worse over the last window has stopped improving, so it counts as plateaued too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganopt.config import schema_section


@schema_section("fid.schema.yaml#/properties/plateau")
@dataclass(frozen=True)
class PlateauConfig:
    """The `fid.plateau` section (workflow/schemas/fid.schema.yaml)."""

    window: float      # the last this fraction of the steps, compared with the same span before it
    tolerance: float   # plateaued: relative improvement between the two spans at most this


def plateau(steps: list[int], values: list[float], final_step: int, cfg: PlateauConfig,
            higher_is_better: bool = False) -> dict:
    """{relative_change, plateaued, from_step}: the median of the finite values in the last window
    ((1 - window) * final_step, final_step] against the median in the window before it, as
    (last - before) / max(|last|, |before|) (0 when both are 0; bounded by 2 in size); plateaued when
    that change improves the metric by at most `tolerance`. plateaued is None when either window
    holds no finite value (too few evaluations, or a diverged end)."""
    steps_a, values_a = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    edge, start = (1 - cfg.window) * final_step, (1 - 2 * cfg.window) * final_step
    ok = np.isfinite(values_a)
    last = values_a[ok & (steps_a > edge)]
    before = values_a[ok & (steps_a > start) & (steps_a <= edge)]
    if steps_a.size == 0 or steps_a.max() < final_step or not last.size or not before.size:
        return {"relative_change": None, "plateaued": None, "from_step": int(edge)}
    a, b = float(np.median(before)), float(np.median(last))
    scale = max(abs(a), abs(b))
    change = 0.0 if scale == 0 else (b - a) / scale
    improvement = change if higher_is_better else -change
    return {"relative_change": change, "plateaued": improvement <= cfg.tolerance, "from_step": int(edge)}

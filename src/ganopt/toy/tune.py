"""Step sizes of the toy per d, fixed once on tuning seeds kept apart from the reported ones
(toy.tune): every grid point of an optimizer's family runs batched at every d, and the chosen
point maximizes, at the study's step rule (the last step T(d)), the median over tuning seeds of
min(p1, p2), then its mean, then the median moved share. The same criterion for every optimizer:
Thm 4.2 promises recovery for a correct step size, and Thm 4.1 promises collapse for every step
size of its regime, so each is tested at the step size most favourable to recovery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from ganopt.config import schema_section
from ganopt.errors import ConfigError
from ganopt.toy.config import ToyConfig, tuned_pair
from ganopt.toy.report import run_events, to_frame


@schema_section("toy.schema.yaml#/$defs/tune")
@dataclass(frozen=True)
class TuneConfig:
    """Tuning seeds and each optimizer's grid (toy.tune)."""

    seeds: tuple[int, ...]
    grids: dict[str, dict[str, Any]]   # optimizer -> {"lr_d": [...], "ratio": [...]}


def grid_pairs(optimizer: str, d: int, grid: dict[str, Any]) -> list[tuple[float, float]]:
    """(eta_G, eta_D) of every grid point at d (ganopt.toy.config.tuned_pair)."""
    return [tuned_pair(optimizer, d, float(lr_d), float(ratio)) for lr_d in grid["lr_d"] for ratio in grid["ratio"]]


def tune_table(cfg: ToyConfig, tune: TuneConfig, optimizer: str, device: torch.device | str = "cpu") -> pd.DataFrame:
    """One row per (d, grid point): the tuning seeds' median and mean min(p1, p2), median moved share and
    p_s, shares of seeds with each event, and `chosen` (one per d)."""
    from ganopt.toy.simulate import simulate

    if optimizer not in tune.grids:
        raise ConfigError(f"toy.tune.grids has no grid for {optimizer} (got {', '.join(tune.grids) or 'none'})")
    rows = []
    for d in cfg.d:
        traj = simulate(cfg, optimizer, d, tune.seeds, lrs=grid_pairs(optimizer, d, tune.grids[optimizer]),
                        device=device)
        events = run_events(to_frame(traj, optimizer, cfg.pair_fraction), cfg.collapse_min, cfg.strict_min)
        table = events.groupby(["d", "lr_g", "lr_d"], sort=False).agg(
            m=("m", "first"), steps=("step", "first"), min_p_median=("min_p", "median"), min_p_mean=("min_p", "mean"),
            moved_median=("moved", "median"), p_s_median=("p_s", "median"), both_modes=("both_modes", "mean"),
            collapses=("collapses", "mean")).reset_index()
        best = table.sort_values(["min_p_median", "min_p_mean", "moved_median"], ascending=False, kind="stable").index[0]
        rows.append(table.assign(optimizer=optimizer, seeds=len(tune.seeds), chosen=table.index == best))
    return pd.concat(rows, ignore_index=True)

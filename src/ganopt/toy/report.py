"""The toy's statistics: trajectories as a table, each seed's events at defined points, and the
sweep summary (per optimizer and setting: share of seeds with each event, its 95% Clopper-Pearson interval
and a three-valued verdict), which the claims table reads.

Seed events (shares are over ALL latents, see ganopt.toy.metrics for the angle rules):
- `collapses`: at the peak step, the step with the largest collapsed share among the steps where
  at least PEAK_MOVED_MIN of the latents have moved, the collapsed share reaches collapse_min
  (Thm 4.1 is a statement for t <= T0, and the pilot saw the collapse fade later); a seed whose
  latents never half move has no peak: the event is undefined for it, and its setting's share is
  over the seeds that have a peak (n may be below the seed count; none: "not evaluated");
- `both_modes`: at the last step both modes are recovered by at least both_modes_min of the
  latents (Thm 4.2, after T1 steps).
A claim holds in a setting when the Clopper-Pearson interval of its share of seeds lies at or above
seed_share_min, does not hold when it lies below, and is inconclusive when it straddles it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ganopt.stats import FAILS, HOLDS, INCONCLUSIVE, SKIPPED, share_interval, verdict

if TYPE_CHECKING:  # the simulation needs torch; reading its results does not
    from ganopt.toy.simulate import Trajectory

PEAK_MOVED_MIN = 0.5  # the collapse peak is taken over steps where at least half the latents moved
SETTING = ["d", "u_cos", "init_scale"]
RUN = ["optimizer", *SETTING, "seed"]
EVENTS = ("collapses", "both_modes")


def to_frame(traj: Trajectory, optimizer: str, lr_g: float, lr_d: float) -> pd.DataFrame:
    """One row per (setting, seed, evaluated step); one column per metric."""
    n_eval, n_runs = len(traj.steps), len(traj.seeds)
    frame = pd.DataFrame({
        "optimizer": optimizer, "lr_g": lr_g, "lr_d": lr_d, "d": traj.d,
        "u_cos": np.tile(traj.u_cos, n_eval), "init_scale": np.tile(traj.init_scale, n_eval),
        "seed": np.tile(traj.seeds, n_eval), "step": np.repeat(traj.steps, n_runs),
    })
    for key, values in traj.metrics.items():
        frame[key] = values.numpy().reshape(-1)
    return frame.sort_values(RUN + ["step"], kind="stable").reset_index(drop=True)


def _seed_events(rows: pd.DataFrame, collapse_min: float, both_modes_min: float) -> dict:
    end = rows.loc[rows["step"].idxmax()]
    eligible = rows[rows["moved"] >= PEAK_MOVED_MIN]
    peak = eligible.loc[eligible["collapsed"].idxmax()] if not eligible.empty else None
    return {
        "peak_step": float(peak["step"]) if peak is not None else math.nan,
        "collapsed_peak": float(peak["collapsed"]) if peak is not None else math.nan,
        "moved_peak": float(peak["moved"]) if peak is not None else math.nan,
        "collapsed_end": float(end["collapsed"]), "moved_end": float(end["moved"]),
        "recovered_u1_end": float(end["recovered/u1"]), "recovered_u2_end": float(end["recovered/u2"]),
        "collapses": peak is not None and bool(peak["collapsed"] >= collapse_min),
        "both_modes": bool(min(end["recovered/u1"], end["recovered/u2"]) >= both_modes_min),
    }


def seed_events(frame: pd.DataFrame, collapse_min: float, both_modes_min: float) -> pd.DataFrame:
    """One row per run (optimizer, setting, seed): its peak and end statistics and its two events."""
    rows = [{**dict(zip(RUN, key)), "lr_g": part["lr_g"].iloc[0], "lr_d": part["lr_d"].iloc[0],
             **_seed_events(part, collapse_min, both_modes_min)}
            for key, part in frame.groupby(RUN, sort=False)]
    return pd.DataFrame(rows)


def sweep_table(events: pd.DataFrame, seed_share_min: float) -> pd.DataFrame:
    """Per optimizer and setting: seeds, and for each event the seeds it is defined for (n), the
    seeds with it, their share, its 95% Clopper-Pearson interval and verdict against seed_share_min (a column
    too); beside them the mean peak and end shares of latents (peak means over seeds with a peak)."""
    rows = []
    for key, part in events.groupby(["optimizer", *SETTING], sort=False):
        defined = {"collapses": part["peak_step"].notna(), "both_modes": pd.Series(True, index=part.index)}
        row = {**dict(zip(["optimizer", *SETTING], key)), "lr_g": part["lr_g"].iloc[0],
               "lr_d": part["lr_d"].iloc[0], "seed_share_min": seed_share_min, "n_seeds": len(part)}
        for event in EVENTS:
            n, k = int(defined[event].sum()), int(part.loc[defined[event], event].sum())
            _, low, high = share_interval(k, n)
            row.update({f"{event}_n": n, f"{event}_seeds": k, f"{event}_share": k / n if n else math.nan,
                        f"{event}_low": low, f"{event}_high": high,
                        f"{event}_verdict": verdict(low, high, ">=", seed_share_min)})
        for column in ("collapsed_peak", "moved_peak", "peak_step", "collapsed_end", "moved_end",
                       "recovered_u1_end", "recovered_u2_end"):
            row[f"{column}_mean"] = float(part[column].mean())  # NaN-skipping: seeds with a peak
        rows.append(row)
    return pd.DataFrame(rows)


def claim_counts(sweep: pd.DataFrame, optimizer: str, event: str) -> dict:
    """How a toy claim fares over the sweep: settings by verdict, and the pooled seed share with its
    Clopper-Pearson interval (the seeds the event is defined for, all settings together; the settings of a
    seed share its plane, init directions and samples, so the pooled interval is a rough one)."""
    rows = sweep[sweep["optimizer"] == optimizer]
    verdicts = rows[f"{event}_verdict"].value_counts()
    k, n = int(rows[f"{event}_seeds"].sum()), int(rows[f"{event}_n"].sum())
    _, low, high = share_interval(k, n)
    return {"settings": len(rows), **{v: int(verdicts.get(v, 0)) for v in (HOLDS, FAILS, INCONCLUSIVE, SKIPPED)},
            "seeds": k, "n": n, "share": k / n if n else math.nan, "low": low, "high": high}

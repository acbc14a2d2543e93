"""The toy's statistics: trajectories as a table, each run's events at the one step rule of the
study, and the per-d summary (per optimizer and setting: share of seeds with each event, its 95%
Clopper-Pearson interval and three-valued verdict, medians of the shares), which the claims read.

Step rule, the same for every event and optimizer, fixed before any run: the last step T(d) (a
function of d only, ganopt.toy.config.horizon). At that step, with the shares of ganopt.toy.metrics
(probabilities over the latent distribution, pairs included):
- `both_modes` (Thm 4.2): min(p1, p2) >= Pr[z = e_i], at least one latent's worth on each mode
  (1/m_G without pairs);
- `both_modes_strict`: min(p1, p2) >= toy.strict_min (the former 20%-per-mode rule, kept as a
  stricter secondary column);
- `collapses` (Thm 4.1): p_s >= toy.collapse_min, most of the generator's mass within the cone of
  u1 + u2.
Beside them: min(p1, p2), p1 + p2, |p1 - p2|, p_s and the moved share. A per-d claim holds when
the Clopper-Pearson interval of its share of seeds lies at or above seed_share_min, does not hold
when it lies below, and is inconclusive when it straddles it (seeds are independent within a d)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ganopt.stats import median_interval, share_interval, verdict
from ganopt.toy.config import single_latent_mass

if TYPE_CHECKING:  # the simulation needs torch; reading its results does not
    from ganopt.toy.simulate import Trajectory

SETTING = ["d", "u_cos"]
RUN = ["optimizer", *SETTING, "seed"]
EVENTS = ("both_modes", "both_modes_strict", "collapses")
SHARES = ("min_p", "sum_p", "gap_p", "p_s", "moved")   # per-run shares summarized by their median


def to_frame(traj: Trajectory, optimizer: str, pair_fraction: float) -> pd.DataFrame:
    """One row per (setting, step size, seed, evaluated step); one column per metric, plus m_G and
    `one_latent` = Pr[z = e_i], the recovery event's threshold."""
    n_eval, n_runs = len(traj.steps), len(traj.seeds)
    frame = pd.DataFrame({
        "optimizer": optimizer, "d": traj.d, "m": traj.m, "one_latent": single_latent_mass(traj.m, pair_fraction),
        "u_cos": np.tile(traj.u_cos, n_eval), "lr_g": np.tile(traj.lr_g, n_eval), "lr_d": np.tile(traj.lr_d, n_eval),
        "seed": np.tile(traj.seeds, n_eval), "step": np.repeat(traj.steps, n_runs),
    })
    for key, values in traj.metrics.items():
        frame[key] = values.numpy().reshape(-1)
    return frame.sort_values(RUN + ["lr_g", "lr_d", "step"], kind="stable").reset_index(drop=True)


def last_step_events(last: pd.DataFrame, collapse_min: float, strict_min: float) -> pd.DataFrame:
    """The shares and events of rows taken at the step rule (one row per run)."""
    min_p = np.minimum(last["p1"], last["p2"])
    return last.assign(
        min_p=min_p, sum_p=last["p1"] + last["p2"], gap_p=(last["p1"] - last["p2"]).abs(),
        both_modes=min_p >= last["one_latent"] * (1 - 1e-9),   # shares are float sums of the same masses
        both_modes_strict=min_p >= strict_min, collapses=last["p_s"] >= collapse_min)


def run_events(frame: pd.DataFrame, collapse_min: float, strict_min: float) -> pd.DataFrame:
    """One row per run (optimizer, setting, step sizes, seed) at its last step."""
    keys = RUN + ["lr_g", "lr_d"]
    last = frame[frame["step"] == frame.groupby(keys)["step"].transform("max")]
    columns = keys + ["m", "one_latent", "step", "p1", "p2", "p_s", "moved", "xi_ratio"]
    return last_step_events(last[columns].reset_index(drop=True), collapse_min, strict_min)


def summary_table(events: pd.DataFrame, seed_share_min: float) -> pd.DataFrame:
    """Per optimizer and setting (d, u_cos): step sizes, m_G, T(d), seeds; for each event the seeds
    with it, their share, its 95% Clopper-Pearson interval and verdict against seed_share_min; the
    median over seeds of every share (min(p1, p2) with its sign-test interval)."""
    rows = []
    for key, part in events.groupby(["optimizer", *SETTING], sort=False):
        row = {**dict(zip(["optimizer", *SETTING], key)), "lr_g": part["lr_g"].iloc[0], "lr_d": part["lr_d"].iloc[0],
               "m": int(part["m"].iloc[0]), "one_latent": part["one_latent"].iloc[0], "steps": int(part["step"].iloc[0]),
               "seed_share_min": seed_share_min, "n_seeds": len(part)}
        for event in EVENTS:
            k, n = int(part[event].sum()), len(part)
            _, low, high = share_interval(k, n)
            row.update({f"{event}_seeds": k, f"{event}_share": k / n, f"{event}_low": low, f"{event}_high": high,
                        f"{event}_verdict": verdict(low, high, ">=", seed_share_min)})
        for share in SHARES:
            row[f"{share}_median"] = float(part[share].median())
        _, row["min_p_low"], row["min_p_high"] = median_interval(part["min_p"].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def seed_clusters(events: pd.DataFrame, optimizer: str, event: str) -> tuple[np.ndarray, np.ndarray]:
    """Per seed (a cluster: the same seed runs at every setting): (runs with `event`, runs)."""
    part = events[events["optimizer"] == optimizer].groupby("seed")[event]
    return part.sum().to_numpy(dtype=float), part.size().to_numpy(dtype=float)


def trend_samples(events: pd.DataFrame, optimizer: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """min(p1, p2) of every run at the largest d and at the smallest d, and those two d's (empty
    samples when fewer than two d's ran)."""
    rows = events[events["optimizer"] == optimizer]
    ds = sorted(set(rows["d"]))
    if len(ds) < 2:
        return np.array([]), np.array([]), (ds[0] if ds else 0), (ds[-1] if ds else 0)
    pick = lambda d: rows.loc[rows["d"] == d, "min_p"].to_numpy(dtype=float)   # noqa: E731
    return pick(ds[-1]), pick(ds[0]), ds[0], ds[-1]

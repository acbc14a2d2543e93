"""Tables, summaries and figures of a toy trajectory: the per-seed CSV, the peak/end summary
over seeds, and the metrics-over-time figure (mean and 10-90% band over seeds, a colour per setting)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ganopt.io import save_figure
from ganopt.toy.simulate import Trajectory

# Figure panels: (title, metric keys drawn in it, log y-axis).
PANELS = (
    ("recovery of u1 (cos >= thr)", ("recovery/u1/all", "recovery/u1/moved"), False),
    ("recovery of u2 (cos >= thr)", ("recovery/u2/all", "recovery/u2/moved"), False),
    ("mean |cos| with u1+u2", ("collapse_cos/all", "collapse_cos/moved"), False),
    ("median ||xi|| / |alpha|", ("xi_ratio/all", "xi_ratio/moved"), True),
    ("latents moved", ("moved_frac",), False),
    ("losses", ("loss/D", "loss/G"), False),
)


def to_frame(traj: Trajectory, optimizer: str) -> pd.DataFrame:
    """One row per (setting, seed, evaluated step); one column per metric."""
    n_eval, n_runs = len(traj.steps), len(traj.seeds)
    frame = pd.DataFrame({
        "optimizer": optimizer,
        "setting": np.tile(traj.settings, n_eval),
        "lr_g": np.tile(traj.lr_g, n_eval),
        "lr_d": np.tile(traj.lr_d, n_eval),
        "seed": np.tile(traj.seeds, n_eval),
        "step": np.repeat(traj.steps, n_runs),
    })
    for key, values in traj.metrics.items():
        frame[key] = values.numpy().reshape(-1)
    return frame.sort_values(["setting", "seed", "step"], kind="stable").reset_index(drop=True)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The metric columns of a toy frame (everything after the run/step labels)."""
    return [c for c in frame.columns if c not in ("optimizer", "setting", "lr_g", "lr_d", "seed", "step")]


def _both_modes(rows: pd.DataFrame, both_min: float) -> int:
    return int(((rows["recovery/u1/all"] >= both_min) & (rows["recovery/u2/all"] >= both_min)).sum())


def _stats(rows: pd.DataFrame, both_min: float) -> dict:
    out = {k: {"mean": float(rows[k].mean()), "std": float(rows[k].std(ddof=0))} for k in metric_columns(rows)}
    return {"step": int(rows["step"].iloc[0]), "both_modes_seeds": _both_modes(rows, both_min), "metrics": out}


def summarize(frame: pd.DataFrame, both_min: float) -> list[dict]:
    """Per setting: statistics over seeds at the end, and at the peak of the collapse (the step
    where the seed-mean of collapse_cos/all is largest), plus how many seeds recover both modes
    (both recoveries over all latents >= both_min). NaN (no latent moved) is left out of means."""
    out = []
    for setting, rows in frame.groupby("setting", sort=True):
        by_step = rows.groupby("step")
        peak_step = by_step["collapse_cos/all"].mean().idxmax()
        out.append({
            "setting": int(setting),
            "lr_g": float(rows["lr_g"].iloc[0]),
            "lr_d": float(rows["lr_d"].iloc[0]),
            "n_seeds": int(rows["seed"].nunique()),
            "end": _stats(rows[rows["step"] == rows["step"].max()], both_min),
            "peak_collapse": _stats(rows[rows["step"] == peak_step], both_min),
        })
    return out


def plot(frame: pd.DataFrame, path: str | Path, title: str) -> None:
    """Metrics over steps: seed mean (line) and 10th-90th percentile over seeds (band, which stays
    inside the data's range, so log axes work); solid = all latents,
    dashed = latents that moved; one colour per step-size setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    for ax, (panel, keys, log) in zip(axes.flat, PANELS):
        for setting, rows in frame.groupby("setting", sort=True):
            colour = f"C{int(setting) % 10}"
            label = f"lr_g={rows['lr_g'].iloc[0]:g}, lr_d={rows['lr_d'].iloc[0]:g}"
            for key, style in zip(keys, ("-", "--")):
                by_step = rows.groupby("step")[key]
                mean, low, high = by_step.mean(), by_step.quantile(0.1), by_step.quantile(0.9)
                ax.plot(mean.index, mean, style, color=colour, label=f"{key} ({label})")
                ax.fill_between(mean.index, low, high, color=colour, alpha=0.15, linewidth=0)
        ax.set_title(panel)
        ax.set_xlabel("step")
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=6)
    n_seeds = frame["seed"].nunique()
    fig.suptitle(f"{title}: mean (line) and 10-90% band over {n_seeds} seeds")
    save_figure(path, fig, dpi=110)
    plt.close(fig)

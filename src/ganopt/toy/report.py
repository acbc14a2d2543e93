"""Tables, summaries and figures of a toy trajectory: the per-seed CSV, the peak/end summary
over seeds (also as a flat table), and the metrics-over-time figure (mean and 10-90% band over
seeds, a colour per optimizer and step-size setting)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ganopt.io import save_figure
from ganopt.toy.simulate import Trajectory

# Figure panels: (title, metric keys drawn in it (solid, dashed), log y-axis). PANELS for one
# optimizer's figure; COMPARE_PANELS, one key each, for the side-by-side figure of all of them.
PANELS = (
    ("recovery of u1 (fraction of latents, cos >= thr)", ("recovery/u1/all", "recovery/u1/moved"), False),
    ("recovery of u2 (fraction of latents, cos >= thr)", ("recovery/u2/all", "recovery/u2/moved"), False),
    ("mean |cos| with u1+u2", ("collapse_cos/all", "collapse_cos/moved"), False),
    ("median ||xi|| / |alpha|", ("xi_ratio/all", "xi_ratio/moved"), True),
    ("latents moved", ("moved_frac",), False),
    ("losses", ("loss/D", "loss/G"), False),
)
COMPARE_PANELS = (
    ("recovery of u1 (all latents, cos >= thr)", ("recovery/u1/all",), False),
    ("recovery of u2 (all latents, cos >= thr)", ("recovery/u2/all",), False),
    ("seeds recovering both modes", ("both_modes",), False),
    ("mean |cos| with u1+u2 (moved latents)", ("collapse_cos/moved",), False),
    ("median ||xi|| / |alpha| (moved latents)", ("xi_ratio/moved",), True),
    ("latents moved", ("moved_frac",), False),
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


def _number(x: float) -> float | None:
    """A float for JSON: NaN (e.g. no latent moved yet) becomes None (null)."""
    return None if np.isnan(x) else float(x)


def _stats(rows: pd.DataFrame, both_min: float) -> dict:
    out = {k: {"mean": _number(rows[k].mean()), "std": _number(rows[k].std(ddof=0))} for k in metric_columns(rows)}
    return {"step": int(rows["step"].iloc[0]), "both_modes_seeds": _both_modes(rows, both_min), "metrics": out}


def summarize(frame: pd.DataFrame, both_min: float) -> list[dict]:
    """Per setting: statistics over seeds at three steps: the end; the peak of the collapse (the
    step where the seed-mean of collapse_cos/all is largest); the peak of recovery (largest
    seed-mean of min(recovery u1, recovery u2), all latents). Each also counts the seeds that
    recover both modes (both recoveries >= both_min). NaN (no latent moved) is left out of means."""
    out = []
    for setting, rows in frame.groupby("setting", sort=True):
        by_step = rows.groupby("step")
        peak_step = by_step["collapse_cos/all"].mean().idxmax()
        worst_mode = np.minimum(rows["recovery/u1/all"], rows["recovery/u2/all"])
        recovery_step = worst_mode.groupby(rows["step"]).mean().idxmax()
        out.append({
            "setting": int(setting),
            "lr_g": float(rows["lr_g"].iloc[0]),
            "lr_d": float(rows["lr_d"].iloc[0]),
            "n_seeds": int(rows["seed"].nunique()),
            "end": _stats(rows[rows["step"] == rows["step"].max()], both_min),
            "peak_collapse": _stats(rows[rows["step"] == peak_step], both_min),
            "peak_recovery": _stats(rows[rows["step"] == recovery_step], both_min),
        })
    return out


def summary_table(frame: pd.DataFrame, both_min: float) -> pd.DataFrame:
    """The summaries of one or more optimizers' frames as a flat table: one row per
    (optimizer, setting, point) with point in {end, peak_collapse, peak_recovery}; mean and sd
    over seeds."""
    rows = []
    for optimizer, part in frame.groupby("optimizer", sort=False):
        for s in summarize(part, both_min):
            for point in ("end", "peak_collapse", "peak_recovery"):
                stats = s[point]
                row = {"optimizer": optimizer, "setting": s["setting"], "lr_g": s["lr_g"], "lr_d": s["lr_d"],
                       "point": point, "step": stats["step"], "n_seeds": s["n_seeds"],
                       "both_modes_seeds": stats["both_modes_seeds"]}
                for key, value in stats["metrics"].items():
                    row[f"{key}:mean"], row[f"{key}:sd"] = value["mean"], value["std"]
                rows.append(row)
    return pd.DataFrame(rows)


def _curve(rows: pd.DataFrame, key: str, both_min: float) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Seed mean and 10th/90th percentiles of `key` per step; `both_modes` is the fraction of
    seeds whose recoveries of u1 and u2 (all latents) both reach both_min (no band)."""
    if key == "both_modes":
        both = (rows["recovery/u1/all"] >= both_min) & (rows["recovery/u2/all"] >= both_min)
        mean = both.groupby(rows["step"]).mean()
        return mean, mean, mean
    by_step = rows.groupby("step")[key]
    return by_step.mean(), by_step.quantile(0.1), by_step.quantile(0.9)


def plot(frame: pd.DataFrame, path: str | Path, title: str, recover_cos: float, both_min: float,
         panels: tuple = PANELS) -> None:
    """Metrics over steps, one colour per (optimizer, setting): seed mean (line) and 10th-90th
    percentile over seeds (band, inside the data's range, so log axes work); in PANELS solid =
    all latents, dashed = latents that moved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 7), constrained_layout=True)
    curves = list(frame.groupby(["optimizer", "setting"], sort=False))
    for ax, (panel, keys, log) in zip(axes.flat, panels):
        for i, ((optimizer, _), rows) in enumerate(curves):
            label = f"{optimizer} {rows['lr_g'].iloc[0]:g}/{rows['lr_d'].iloc[0]:g}"
            for key, style in zip(keys, ("-", "--")):
                mean, low, high = _curve(rows, key, both_min)
                suffix = f" {key.split('/')[-1]}" if len(keys) > 1 else ""
                ax.plot(mean.index, mean, style, color=f"C{i % 10}", label=label + suffix)
                ax.fill_between(mean.index, low, high, color=f"C{i % 10}", alpha=0.1, linewidth=0)
        ax.set_title(panel.replace("thr", f"{recover_cos:g}"), fontsize=10)
        ax.set_xlabel("step")
        if log:
            ax.set_yscale("log")
        if len(keys) > 1:
            ax.legend(fontsize=6)
    if all(len(keys) == 1 for _, keys, _ in panels):
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="optimizer lr_g/lr_d")
    n_seeds = frame["seed"].nunique()
    fig.suptitle(f"{title}: mean (line) and 10-90% band over {n_seeds} seeds")
    save_figure(path, fig, dpi=110)
    plt.close(fig)

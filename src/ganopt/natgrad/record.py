"""From trajectories to tables: the Lyapunov value per step, rises of V, per-setting summaries,
the CSV/JSON/MLflow outputs shared by the natgrad experiments, and the V(t) figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ganopt.io import save_figure, write_csv, write_json
from ganopt.natgrad.monotone import rises

FLOW_COLUMNS = ("setting", "init", "lr", "integrator", "step_size", "rises", "V_start", "V_end", "finite", "sigma_F_min",
                "sigma_G_min", "ref_error", "inside")


def lyapunov(F: torch.Tensor, F_star: torch.Tensor, G: torch.Tensor, G_star: torch.Tensor) -> torch.Tensor:
    """V = 1/2 ||F - F*||^2 + 1/2 ||G - G*||^2 over the last (output) dimension."""
    return 0.5 * ((F - F_star) ** 2).sum(-1) + 0.5 * ((G - G_star) ** 2).sum(-1)


def trajectory_frame(method: str, traj: Any, V: np.ndarray, columns: dict[str, np.ndarray],
                     record_every: int) -> pd.DataFrame:
    """Long table of a batched run: per game (columns: its setting, e.g. lam and init) and every
    record_every-th step (and the last), V, both players' outputs, sigma of each J, and the run's
    total rises of V counted at every step."""
    steps = len(V) - 1
    keep = np.unique(np.append(np.arange(0, steps + 1, record_every), steps))
    Fs, Gs = torch.stack(traj.F).cpu().numpy(), torch.stack(traj.G).cpu().numpy()
    sig_f, sig_g = torch.stack(traj.sigma_F).cpu().numpy(), torch.stack(traj.sigma_G).cpu().numpy()
    rows = []
    for b in range(V.shape[1]):
        rows.append(pd.DataFrame({
            "method": method, "solver": traj.solver, **{k: v[b] for k, v in columns.items()},
            "step": keep, "V": V[keep, b],
            **{f"F{i}": Fs[keep, b, i] for i in range(Fs.shape[-1])},
            **{f"G{i}": Gs[keep, b, i] for i in range(Gs.shape[-1])},
            "sigma_F": sig_f[keep, b], "sigma_G": sig_g[keep, b], "rises": rises(V[:, b])}))
    return pd.concat(rows, ignore_index=True)


def summarize(frame: pd.DataFrame, keys: list[str], converged_below: float) -> list[dict[str, Any]]:
    """One record per setting (keys) over its runs (`init`): V at start and end, the runs' total
    rises (column `rises`, counted at every step), and how many ended below `converged_below`."""
    out = []
    for setting, group in frame.groupby(keys, sort=True):
        per_run = group.groupby("init")["V"]
        v0, v1 = per_run.first(), per_run.last()
        rec = dict(zip(keys, setting if isinstance(setting, tuple) else (setting,)))
        rec.update(V_start_median=float(v0.median()), V_end_median=float(v1.median()),
                   V_end_max=float(v1.max()), V_end_min=float(v1.min()),
                   rises_total=int(group.groupby("init")["rises"].first().sum()),
                   converged=int((v1 < converged_below).sum()), runs=int(v1.size))
        out.append(rec)
    return out


def write_method(out: Path, method: str, frame: pd.DataFrame) -> Path:
    """results/natgrad/<experiment>/<method>.csv (atomic)."""
    path = out / f"{method}.csv"
    write_csv(path, frame)
    return path


def write_flow(out: Path, frame: pd.DataFrame) -> Path:
    """results/natgrad/<experiment>/flow.csv: the flow check's runs (ganopt.natgrad.flow; a header
    only when no setting is regularized)."""
    path = out / "flow.csv"
    write_csv(path, frame if not frame.empty else pd.DataFrame(columns=FLOW_COLUMNS))
    return path


def log_curves(tracker: Any, frame: pd.DataFrame, method: str, setting: str) -> None:
    """MLflow: the median over runs of V per recorded step, as `V/<method>/<setting><value>`."""
    for value, group in frame.groupby(setting):
        median = group.groupby("step")["V"].median()
        for step, v in median.items():
            tracker.log_metrics({f"V/{method}/{setting}{value:g}": float(v)}, step=int(step))


def plot_v(frames: dict[str, pd.DataFrame], panel: str, path: Path, title: str) -> None:
    """V(t) on a log scale: one panel per value of `panel`, one colour per method, thin line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted(next(iter(frames.values()))[panel].unique())
    fig, axes = plt.subplots(1, len(values), figsize=(max(4 * len(values), 7), 3.6), squeeze=False, sharey=True)
    for ax, value in zip(axes[0], values):
        for i, (method, frame) in enumerate(frames.items()):
            sub = frame[frame[panel] == value]
            for j, (_, run) in enumerate(sub.groupby("init")):
                ax.semilogy(run["step"], run["V"].clip(lower=1e-34), color=f"C{i}", lw=0.8, alpha=0.7,
                            label=method if j == 0 else None)
        if len(values) > 1:
            ax.set_title(f"{panel} = {value:g}")
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("V")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    write_json(out / "summary.json", summary)

"""Figures of the toy stage: one optimizer's trajectories over the whole sweep, every optimizer at
the headline setting, and the sweep summary (share of seeds with each event, 95% Clopper-Pearson interval)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ganopt.io import save_figure
from ganopt.toy.report import EVENTS, HOLDS, SETTING

# (metric key, panel title, log y-axis)
TRAJECTORY = (("collapsed", "latents collapsed onto u1+u2", False),
              ("recovered/u1", "latents recovering u1", False),
              ("recovered/u2", "latents recovering u2", False),
              ("moved", "latents moved", False))
COMPARE = TRAJECTORY + (("cos_s", "mean cos(G(z), u1+u2)", False),
                        ("xi_ratio", "median ||xi|| / |alpha| (moved latents)", True))
EVENT_TITLES = {"collapses": "seeds collapsing onto u1+u2 (at the peak among steps where >= half the latents "
                             "moved; share of the seeds that have such a step)",
                "both_modes": "seeds recovering both modes (last step)"}
STYLES = ("-", "--", ":", "-.")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def setting_label(d: int, u_cos: float, init_scale: float) -> str:
    return f"d={d:g} <u1,u2>={u_cos:g} init x{init_scale:g}"


def plot_optimizer(frame: pd.DataFrame, path: str | Path, title: str) -> None:
    """One row of panels per d: the seed mean of each metric over steps, a colour per <u1, u2>
    and a line style per init scale."""
    plt = _pyplot()
    ds = list(dict.fromkeys(frame["d"]))
    cos_values, scales = list(dict.fromkeys(frame["u_cos"])), list(dict.fromkeys(frame["init_scale"]))
    fig, axes = plt.subplots(len(ds), len(TRAJECTORY), figsize=(16, 3.4 * len(ds)), squeeze=False,
                             constrained_layout=True)
    for row, d in zip(axes, ds):
        part = frame[frame["d"] == d]
        for (c, s), runs in part.groupby(["u_cos", "init_scale"], sort=False):
            means = runs.groupby("step")[[k for k, _, _ in TRAJECTORY]].mean()
            for ax, (key, _, _) in zip(row, TRAJECTORY):
                ax.plot(means.index, means[key], STYLES[scales.index(s) % len(STYLES)],
                        color=f"C{cos_values.index(c) % 10}", label=f"<u1,u2>={c:g} init x{s:g}")
        for ax, (_, panel, _) in zip(row, TRAJECTORY):
            ax.set_title(f"{panel}, d={d}", fontsize=10)
            ax.set_xlabel("step")
            ax.set_ylabel("share of all latents (seed mean)")
            ax.set_ylim(-0.02, 1.02)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{title}: seed mean over {frame['seed'].nunique()} seeds per setting")
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def at_setting(frame: pd.DataFrame, setting: tuple[int, float, float]) -> pd.DataFrame:
    """The rows of one (d, u_cos, init_scale) setting."""
    return frame[(frame[SETTING] == list(setting)).all(axis=1)]


def plot_compare(frame: pd.DataFrame, path: str | Path, headline: tuple[int, float, float]) -> None:
    """Every optimizer at the headline (d, u_cos, init_scale) setting: seed mean and 10-90% band."""
    plt = _pyplot()
    at = at_setting(frame, headline)
    fig, axes = plt.subplots(2, 3, figsize=(15, 7), constrained_layout=True)
    for i, (optimizer, runs) in enumerate(at.groupby("optimizer", sort=False)):
        label = f"{optimizer} {runs['lr_g'].iloc[0]:g}/{runs['lr_d'].iloc[0]:g}"
        for ax, (key, panel, log) in zip(axes.flat, COMPARE):
            by_step = runs.groupby("step")[key]
            mean = by_step.mean()
            ax.plot(mean.index, mean, color=f"C{i}", label=label)
            ax.fill_between(mean.index, by_step.quantile(0.1), by_step.quantile(0.9), color=f"C{i}", alpha=0.15,
                            linewidth=0)
            ax.set_title(panel, fontsize=10)
            ax.set_xlabel("step")
            if log:
                ax.set_yscale("log")
    axes.flat[0].legend(fontsize=8, title="optimizer eta_G/eta_D")
    fig.suptitle(f"toy theorem, {setting_label(*headline)}: mean (line) and 10-90% band over "
                 f"{at['seed'].nunique()} seeds")
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def plot_sweep(sweep: pd.DataFrame, path: str | Path, seed_share_min: float) -> None:
    """Per event: each optimizer's share of seeds in every setting with its 95% Clopper-Pearson interval;
    filled markers where the claim holds, the dashed line at seed_share_min."""
    plt = _pyplot()
    settings = list(dict.fromkeys(map(tuple, sweep[SETTING].to_numpy())))
    optimizers = list(dict.fromkeys(sweep["optimizer"]))
    fig, axes = plt.subplots(len(EVENTS), 1, figsize=(max(8, 0.6 * len(settings) + 3), 8), sharex=True,
                             constrained_layout=True)
    width = 0.8 / len(optimizers)
    for ax, event in zip(axes, EVENTS):
        for i, optimizer in enumerate(optimizers):
            rows = sweep[sweep["optimizer"] == optimizer]
            x = [settings.index(tuple(r)) + (i - (len(optimizers) - 1) / 2) * width for r in rows[SETTING].to_numpy()]
            share = rows[f"{event}_share"]
            err = [share - rows[f"{event}_low"], rows[f"{event}_high"] - share]
            ax.errorbar(x, share, yerr=err, fmt="none", ecolor=f"C{i}", alpha=0.6)
            holds = rows[f"{event}_verdict"] == HOLDS
            ax.scatter([v for v, h in zip(x, holds) if h], share[holds], color=f"C{i}", label=optimizer)
            ax.scatter([v for v, h in zip(x, holds) if not h], share[~holds], facecolors="white",
                       edgecolors=f"C{i}")
        ax.axhline(seed_share_min, color="grey", linestyle="--", linewidth=1)
        for edge in range(len(settings) - 1):
            ax.axvline(edge + 0.5, color="lightgrey", linewidth=0.5)
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("share of seeds")
        ax.set_title(EVENT_TITLES[event] + ";\nfilled = holds (interval at or above the dashed line)", fontsize=10)
    axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1].set_xticks(range(len(settings)), [setting_label(*s) for s in settings], rotation=60, ha="right",
                        fontsize=8)
    n = int(sweep["n_seeds"].max())
    fig.suptitle(f"toy sweep ({n} seeds per setting): share of seeds with 95% Clopper-Pearson intervals; step sizes fixed "
                 "per optimizer")
    save_figure(path, fig, dpi=100)
    plt.close(fig)

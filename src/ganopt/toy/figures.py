"""Figures of the toy stage (each about 1000 px wide): one optimizer's trajectories per d, every
optimizer side by side per d, and the phase picture (recovery and collapse events against d per
optimizer with 95% Clopper-Pearson intervals, the median min(p1, p2) against d, and the theorems'
statements beside them)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from ganopt.io import save_figure

# (metric key, label) of the per-optimizer trajectories: the shares over the latent distribution
SHARES = (("p1", "p1: latents within the cone of u1"), ("p2", "p2: within the cone of u2"),
          ("p_s", "p_s: within the cone of u1+u2"), ("moved", "moved"))
# (per-run column, panel title) of the comparison
COMPARE = (("min_p", "min(p1, p2)"), ("p_s", "p_s (collapsed onto u1+u2)"), ("moved", "moved share"))
THEOREMS = (
    "Thm 4.1 (SGDA, eta_G = sqrt(d eta_D)/polylog d): w.p. 1 - o(1), for every latent z, G(z) = "
    "alpha(z)(u1+u2) + xi(z) with ||xi(z)|| = o(alpha(z)) at T0: the generator collapses onto u1+u2.",
    "Thm 4.2 (nSGDA, for a correct step size): after T1 steps Pr_z(||G(z)/||G(z)|| - u_l|| = o(1)) = "
    "Omega~(1) for l = 1 and l = 2: a share of the latents that does not vanish with d on each mode.",
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _with_min(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(min_p=frame[["p1", "p2"]].min(axis=1))


def plot_optimizer(frame: pd.DataFrame, path: str | Path, title: str) -> None:
    """One panel per d: the seed median of p1, p2, p_s and the moved share over steps (first u_cos)."""
    plt = _pyplot()
    ds = sorted(set(frame["d"]))
    fig, axes = plt.subplots(1, len(ds), figsize=(10, 3.6), squeeze=False, sharey=True, constrained_layout=True)
    for ax, d in zip(axes[0], ds):
        part = frame[(frame["d"] == d) & (frame["u_cos"] == frame["u_cos"].iloc[0])]
        medians = part.groupby("step")[[k for k, _ in SHARES]].median()
        for i, (key, label) in enumerate(SHARES):
            ax.plot(medians.index, medians[key], color=f"C{i}", linestyle=":" if key == "moved" else "-", label=label)
        ax.set_title(f"d={d}, m_G={int(part['m'].iloc[0])}, eta_G/eta_D {part['lr_g'].iloc[0]:.3g}/"
                     f"{part['lr_d'].iloc[0]:.3g}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("share of the latent distribution (seed median)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{title}: {frame['seed'].nunique()} seeds", fontsize=10)
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def plot_compare(frame: pd.DataFrame, path: str | Path) -> None:
    """Per d (rows): every optimizer's median over seeds and 10-90% band of min(p1, p2), p_s and
    the moved share over steps (first u_cos)."""
    plt = _pyplot()
    frame = _with_min(frame[frame["u_cos"] == frame["u_cos"].iloc[0]])
    ds = sorted(set(frame["d"]))
    fig, axes = plt.subplots(len(ds), len(COMPARE), figsize=(10, 2.5 * len(ds) + 0.6), squeeze=False, sharey=True,
                             constrained_layout=True)
    for row, d in zip(axes, ds):
        for i, (optimizer, runs) in enumerate(frame[frame["d"] == d].groupby("optimizer", sort=False)):
            for ax, (key, panel) in zip(row, COMPARE):
                by_step = runs.groupby("step")[key]
                median = by_step.median()
                ax.plot(median.index, median, color=f"C{i}", label=optimizer)
                ax.fill_between(median.index, by_step.quantile(0.1), by_step.quantile(0.9), color=f"C{i}", alpha=0.15,
                                linewidth=0)
                ax.set_title(f"{panel}, d={d}", fontsize=9)
        row[0].set_ylabel("share of latents")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"toy theorem: median and 10-90% band over {frame['seed'].nunique()} seeds per optimizer", fontsize=10)
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def plot_phase(summary: pd.DataFrame, path: str | Path, cone_degrees: float) -> None:
    """Shares of seeds with the recovery and the collapse event against d (95% Clopper-Pearson
    intervals), the median min(p1, p2) against d (sign-test intervals) with one latent's worth
    dashed, and the theorems' statements."""
    plt = _pyplot()
    summary = summary[summary["u_cos"] == summary["u_cos"].iloc[0]]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.6), constrained_layout=True)
    panels = (("both_modes", "recovers both modes: min(p1, p2) >= one latent's worth"),
              ("collapses", "collapses: p_s >= toy.collapse_min"))
    optimizers = list(dict.fromkeys(summary["optimizer"]))
    for ax, (event, title) in zip(axes[0], panels):
        for i, optimizer in enumerate(optimizers):
            rows = summary[summary["optimizer"] == optimizer].sort_values("d")
            share = rows[f"{event}_share"]
            ax.errorbar(rows["d"] * (1 + 0.03 * (i - 1)), share,
                        yerr=[share - rows[f"{event}_low"], rows[f"{event}_high"] - share], marker="o", capsize=3,
                        color=f"C{i}", label=optimizer)
        ax.axhline(float(summary["seed_share_min"].iloc[0]), color="grey", linestyle="--", linewidth=1)
        ax.set(xscale="log", ylim=(-0.03, 1.03), xlabel="d", ylabel="share of seeds (95% interval)")
        ax.set_title(title, fontsize=9)
    ax = axes[1, 0]
    for i, optimizer in enumerate(optimizers):
        rows = summary[summary["optimizer"] == optimizer].sort_values("d")
        mid = rows["min_p_median"]
        ax.errorbar(rows["d"] * (1 + 0.03 * (i - 1)), mid, yerr=[mid - rows["min_p_low"], rows["min_p_high"] - mid],
                    marker="o", capsize=3, color=f"C{i}", label=optimizer)
    first = summary.drop_duplicates("d").sort_values("d")
    ax.plot(first["d"], first["one_latent"], "k--", linewidth=1, label="one latent's worth")
    ax.set(xscale="log", xlabel="d", ylabel="median min(p1, p2) over seeds")
    ax.set_title("does min(p1, p2) fall with d? (sign-test intervals)", fontsize=9)
    ax.legend(fontsize=7)
    axes[0, 0].legend(fontsize=7)
    text = axes[1, 1]
    text.axis("off")
    steps = ", ".join(f"T({int(r.d)})={int(r.steps)}" for r in first.itertuples())
    lines = [*THEOREMS, f"Measured at the last step ({steps}), the same rule for every optimizer and event; "
             f"cones of half-angle {cone_degrees:.1f} deg around u1, u2 and u1+u2; {int(summary['n_seeds'].max())} "
             "seeds per d; dashed grey line: toy.seed_share_min."]
    text.text(0, 1, "\n\n".join(textwrap.fill(line, 58) for line in lines), va="top", fontsize=8.5)
    fig.suptitle("toy theorem across d: " + ", ".join(f"<u1,u2>={c:g}" for c in set(summary["u_cos"])) +
                 ", per-d step sizes fixed on tuning seeds", fontsize=10)
    save_figure(path, fig, dpi=100)
    plt.close(fig)


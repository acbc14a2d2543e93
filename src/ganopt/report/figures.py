"""The study's figures from the GAN runs (quality over iterations, grafting and nSGDA comparisons,
Adam's per-tensor update norms, sample grids side by side) and the stage figures carried over
unchanged (toy, natural gradient). Each figure has a title, labelled axes and a legend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ganopt.io import atomic_path, save_figure
from ganopt.metrics import higher_is_better
from ganopt.report.plan import GRAFTING, NORMALIZED, StudyPlan

LABELS = {"fid": "FID", "kid": "KID", "energy_data": "energy distance to the data",
          "mode_kl": "KL of the mode histogram to uniform",
          "modes_covered": "modes covered", "high_quality_frac": "fraction of high-quality samples"}


def metric_label(metric: str) -> str:
    """Axis label of a fid.json metric, with its feature source and direction."""
    kind, _, source = metric.partition("_")
    name = LABELS.get(metric) or (f"{LABELS.get(kind, kind)} ({source} features)" if source else metric)
    return f"{name}, {'higher' if higher_is_better(metric) else 'lower'} is better"


def _figure(n_panels: int, width: float = 5.0, height: float = 3.8):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    return fig, fig.subplots(1, n_panels, squeeze=False)[0]


def _color(optimizer: str, order: tuple[str, ...]) -> str:
    return f"C{order.index(optimizer) % 10}" if optimizer in order else "k"


def _curves(ax, quality: pd.DataFrame, metric: str, optimizers: list[str], order: tuple[str, ...]) -> None:
    """Median over seeds (line) and min-max over seeds (band) of `metric` per evaluated step."""
    rows = quality[quality["metric"] == metric]
    for optimizer in optimizers:
        by_step = rows[rows["optimizer"] == optimizer].groupby("step")["value"]
        if by_step.ngroups == 0:
            continue
        color = _color(optimizer, order)
        ax.plot(by_step.median().index, by_step.median(), color=color, marker=".", label=optimizer)
        ax.fill_between(by_step.min().index, by_step.min(), by_step.max(), color=color, alpha=0.15, linewidth=0)
    values = rows["value"].to_numpy()
    if metric.startswith("fid") and np.nanmin(values, initial=math.inf) > 0:
        ax.set_yscale("log")
    ax.set(xlabel="generator iteration", ylabel=metric_label(metric))
    ax.legend(fontsize=8, title="optimizer (median, min-max band)", title_fontsize=7)


def _finals(ax, runs: pd.DataFrame, metric: str, optimizers: list[str], order: tuple[str, ...]) -> None:
    """Final value per seed (dots), median (bar), diverged and collapsed seeds counted in the tick labels."""
    labels = []
    for i, optimizer in enumerate(optimizers):
        rows = runs[runs["optimizer"] == optimizer]
        values = rows[f"final_{metric}"].astype(float)
        ax.scatter(np.full(len(values), i) + np.linspace(-0.12, 0.12, len(values)), values,
                   color=_color(optimizer, order), s=18, label=optimizer)
        if values.notna().any():
            ax.hlines(values.median(), i - 0.3, i + 0.3, color="k", linewidth=1.5)
        labels.append(f"{optimizer}\n{(rows['status'] == 'diverged').sum()} div., {int(rows['collapsed'].sum())} coll.")
    ax.set_xticks(range(len(optimizers)), labels, fontsize=7)
    ax.set(ylabel=f"final {metric_label(metric)}", xlabel="optimizer (dots: seeds, bar: median)")


def quality_figure(path: Path, dataset: str, quality: pd.DataFrame, order: tuple[str, ...],
                   settle_from: float | None = None) -> None:
    """Every evaluated metric of a dataset over iterations (the learning curves), one colour per
    optimizer; shaded from `settle_from`: the last span of training that the plateau test compares."""
    metrics = sorted(set(quality["metric"]), key=lambda m: (not m.startswith(("fid", "energy", "modes")), m))
    fig, axes = _figure(max(1, len(metrics)))
    for ax, metric in zip(axes, metrics):
        if settle_from is not None and not quality.empty:
            ax.axvspan(settle_from, quality["step"].max(), color="0.92", label="plateau test span")
        _curves(ax, quality, metric, list(order), order)
        ax.set_title(metric)
    seeds = quality["seed"].nunique()
    fig.suptitle(f"{dataset}: sample quality over training, every optimizer (seeds: {seeds})")
    save_figure(path, fig, dpi=100)


def comparison_figure(path: Path, dataset: str, title: str, quality: pd.DataFrame, runs: pd.DataFrame,
                      optimizers: tuple[str, ...], order: tuple[str, ...]) -> None:
    """The dataset's ranking metric for a subset of optimizers: over iterations, and at the end per seed."""
    present = [o for o in optimizers if o in set(runs["optimizer"])]
    metric = runs["metric"].dropna().iloc[0]
    fig, (left, right) = _figure(2)
    _curves(left, quality, metric, present, order)
    left.set_title("over training")
    _finals(right, runs, metric, present, order)
    right.set_title("at the end of training")
    fig.suptitle(f"{dataset}: {title}")
    save_figure(path, fig, dpi=100)


def adam_norms_figure(path: Path, dataset: str, norms: pd.DataFrame, cv: pd.DataFrame, warmup_frac: float) -> None:
    """Adam's update norm per tensor over iterations (median over seeds), G and D side by side,
    with the warm-up that the coefficient of variation leaves out shaded."""
    fig, axes = _figure(2, width=6.0, height=4.2)
    for ax, player in zip(axes, ("G", "D")):
        rows = norms[norms["player"] == player]
        for i, (param, part) in enumerate(rows.groupby("param", sort=False)):
            median = part.groupby("step")["update_norm"].median()
            ax.plot(median.index, median, color=f"C{i % 10}", linestyle="-" if not param.endswith("bias") else ":",
                    label=param)
        if not rows.empty:
            ax.axvspan(0, warmup_frac * rows["step"].max(), color="0.9", label="warm-up (left out of CV)")
            ax.set_yscale("log")
        player_cv = cv[(cv["player"] == player) & cv["weight"]]["cv"].median()
        ax.set_title(f"{player}: median CV of weight tensors after warm-up {player_cv:.2f}", fontsize=10)
        ax.set(xlabel="generator iteration", ylabel="||parameter update|| per step (L2, log scale)")
        ax.legend(fontsize=6, title="tensor (dotted: bias)", title_fontsize=7)
    fig.suptitle(f"{dataset}: Adam's per-tensor update norm (median over seeds: {norms['seed'].nunique()})")
    save_figure(path, fig, dpi=100)


def samples_figure(path: Path, dataset: str, root: Path, runs: pd.DataFrame, order: tuple[str, ...]) -> None:
    """Each optimizer's samples.png (its first seed) side by side."""
    import matplotlib.image

    from ganopt.report.runs import run_dir

    firsts = runs.sort_values("seed").groupby("optimizer", sort=False).first().reindex(
        [o for o in order if o in set(runs["optimizer"])])
    fig, axes = _figure(len(firsts), width=3.6, height=3.9)
    for ax, (optimizer, row) in zip(axes, firsts.iterrows()):
        ax.imshow(matplotlib.image.imread(run_dir(root, dataset, optimizer, row["seed"]) / "samples.png"))
        ax.set_title(f"{optimizer} (seed {row['seed']}, {row['status']})", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{dataset}: generated samples at the end of training, one run per optimizer")
    save_figure(path, fig, dpi=120)


def copy_figure(source: Path, target: Path) -> None:
    """A stage's own figure into results/figures/, byte for byte (atomically)."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(Path(source).read_bytes())


def draw_all(plan: StudyPlan, root: Path, runs: pd.DataFrame, quality: pd.DataFrame, norms: pd.DataFrame,
             cv: pd.DataFrame) -> list[Path]:
    """Every figure of the plan; returns their paths."""
    written = []
    for out in plan.gan_figures():
        target, dataset = Path(root) / out.path, out.subcategory
        mine = runs[runs["dataset"] == dataset]
        data = quality[quality["dataset"] == dataset]
        if out.caption == "quality":
            settle = pd.to_numeric(mine.get("from_step"), errors="coerce").median() if "from_step" in mine else None
            quality_figure(target, dataset, data, plan.optimizers, None if pd.isna(settle) else float(settle))
        elif out.caption == "grafting":
            comparison_figure(target, dataset, "grafting: Adam vs AdaLR vs AdaDir vs SGDA", data, mine, GRAFTING,
                              plan.optimizers)
        elif out.caption == "nsgda":
            comparison_figure(target, dataset, "normalized SGDA vs Adam", data, mine, NORMALIZED, plan.optimizers)
        elif out.caption == "adam_norms":
            adam_norms_figure(target, dataset, norms[norms["dataset"] == dataset], cv[cv["dataset"] == dataset],
                              plan.report.norm_warmup_frac)
        else:
            samples_figure(target, dataset, root, mine, plan.optimizers)
        written.append(target)
    for source, out in plan.copied_figures().items():
        copy_figure(Path(root) / source, Path(root) / out.path)
        written.append(Path(root) / out.path)
    return written

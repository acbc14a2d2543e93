"""Step-size tuning (rule tune_lr): run one optimizer over its grid of (lr_g, lr_d) on tuning seeds
kept apart from the reported seeds, score each final generator against the held-out split
(`ganopt.gan.scores`), and write best.json, which the reported train_gan runs read. Every grid
point and tuning seed trains in one batched session (ganopt.gan.session), each run with its own
step sizes.

A grid point's score is the mean over tuning seeds; a seed that diverges scores -inf, so
step sizes that diverge on any tuning seed lose. Ties go to the earlier grid point."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ganopt import io, timing
from ganopt.config import DEVICE, from_dict, schema_section
from ganopt.data import Prepared, load_prepared
from ganopt.errors import ConfigError
from ganopt.gan.checkpoint import sample
from ganopt.gan.scores import score_name, score_samples
from ganopt.gan.session import GanSession, RunSpec, TrainConfig, optimizer_kwargs
from ganopt.runtime import limit_threads, select_device

EVAL_SEED = 4321  # latents of the scored samples (the same for every grid point and seed)


@schema_section(None, seeds="gan.schema.yaml#/properties/tune/properties/seeds",
                eval_samples="gan.schema.yaml#/properties/tune/properties/eval_samples",
                device=DEVICE)  # defaults and bounds from the schema
@dataclass(frozen=True)
class TuneJob:
    """One tune_lr job: a dataset x optimizer, its grid and the tuning seeds."""

    dataset: str
    optimizer: str
    data_dir: str
    grid: list                          # step sizes: a number (lr_g = lr_d) or a [lr_g, lr_d] pair each
    seeds: list                         # tuning seeds (validate_config keeps them apart from gan.seeds)
    eval_samples: int                   # generated samples scored per run
    device: str
    train: TrainConfig = field(default_factory=TrainConfig)
    hparams: dict = field(default_factory=dict)
    tracking: dict = field(default_factory=lambda: {"enabled": False})


def grid_points(grid: list) -> list[tuple[float, float]]:
    """The grid as (lr_g, lr_d) pairs; ConfigError on anything but positive numbers or pairs of them."""
    points = []
    for item in grid:
        pair = item if isinstance(item, (list, tuple)) else [item, item]
        if len(pair) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                     for v in pair):
            raise ConfigError(f"step-size grid entry {item!r} must be a positive number or a [lr_g, lr_d] pair")
        points.append((float(pair[0]), float(pair[1])))
    if not points:
        raise ConfigError("the step-size grid must not be empty")
    return points


def config_points(entry: dict) -> list[tuple[float, float]]:
    """An optimizer's entry of gan.datasets.<dataset>.optimizers as (lr_g, lr_d) points: its grid,
    or its one lr_g / lr_d pair (tuning off)."""
    return grid_points(entry["grid"]) if entry.get("grid") else [(float(entry["lr_g"]), float(entry["lr_d"]))]


def grid_edge(points: list[tuple[float, float]], best: int) -> str | None:
    """Where the chosen point sits on the grid: "lowest" or "highest" step size (per player as
    "lowest lr_d", ... when the grid pairs them), None inside the grid or when it has one size. A
    best step at the edge may not be the optimizer's best: the report says so."""
    edges = []
    for k, name in enumerate(("lr_g", "lr_d")):
        values = sorted({point[k] for point in points})
        if len(values) > 1 and points[best][k] in (values[0], values[-1]):
            edges.append(("lowest" if points[best][k] == values[0] else "highest", name))
    if all(point[0] == point[1] for point in points):  # one step size for both players
        return edges[0][0] if edges else None
    return ", ".join(f"{where} {name}" for where, name in edges) or None


def _json_score(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _scores(job: TuneJob, specs: list[RunSpec], data: Prepared, device: torch.device) -> list[tuple[float, str]]:
    """(score, status) of each run, every grid point and seed trained as one batched model."""
    start = time.perf_counter()
    session = GanSession(specs, data, device)
    reasons = session.run(job.train.steps)
    results = []
    for k, (spec, reason) in enumerate(zip(specs, reasons)):
        score = float("-inf") if reason else score_samples(sample(session.seed(k).G.eval(), job.eval_samples,
                                                                  EVAL_SEED), data)[0]
        print(f"lr_g {spec.lr_g:g} lr_d {spec.lr_d:g} seed {spec.seed}: score {score:.4g} ({reason or 'ok'}), "
              f"{time.perf_counter() - start:.1f}s", flush=True)
        results.append((score, "diverged" if reason else "ok"))
    return results


def tune_lr(job: TuneJob, out: Path) -> dict:
    """Run the grid, write `out/best.json` and return its content."""
    from ganopt.jobs import job_run

    data, device = load_prepared(job.data_dir), select_device(job.device)
    points, kwargs = grid_points(job.grid), optimizer_kwargs(job.hparams)
    tags = {"stage": "tune", "dataset": job.dataset, "optimizer": job.optimizer}
    with job_run(asdict(job), f"tune_lr/{job.dataset}/{job.optimizer}", tags=tags) as tracker:
        runs = [RunSpec(job.optimizer, lr_g, lr_d, seed, job.train, kwargs) for lr_g, lr_d in points for seed in job.seeds]
        with timing.phase("loop"):
            scores = iter(_scores(job, runs, data, device))
        rows = []
        for i, (lr_g, lr_d) in enumerate(points):
            point = [next(scores) for _ in job.seeds]
            mean = sum(score for score, _ in point) / len(point)
            rows.append({"lr_g": lr_g, "lr_d": lr_d, "score": _json_score(mean),
                         "scores": [_json_score(score) for score, _ in point], "status": [st for _, st in point]})
            tracker.log_metrics({"tune/lr_g": lr_g, "tune/lr_d": lr_d, "tune/score": mean}, step=i)
        ranked = [r["score"] if r["score"] is not None else float("-inf") for r in rows]
        index = ranked.index(max(ranked))
        best = rows[index]
        if best["score"] is None:
            print("every grid point diverged on some tuning seed: keeping the first grid point", flush=True)
        result = {"lr_g": best["lr_g"], "lr_d": best["lr_d"], "score": best["score"], "metric": score_name(data.kind),
                  "grid_edge": grid_edge(points, index) if best["score"] is not None else None,
                  "grid": rows, "seeds": list(job.seeds), "steps": job.train.steps}
        io.write_json(Path(out) / "best.json", result)
        tracker.set_tags({"best_lr_g": best["lr_g"], "best_lr_d": best["lr_d"]})
        tracker.log_artifact(Path(out) / "best.json")
    print(f"tune_lr {job.dataset}/{job.optimizer}: lr_g {best['lr_g']:g} lr_d {best['lr_d']:g} "
          f"score {best['score']} ({result['metric']})"
          + (f"; the {result['grid_edge']} step size of the grid: extend the grid" if result["grid_edge"] else ""))
    return result


def tune_lr_job(job: dict, out: Path) -> None:
    """CLI entry (`ganopt tune-lr`)."""
    limit_threads()
    tune_lr(from_dict(TuneJob, job, where="tune-lr job"), Path(out))


"""Step-size tuning (rule tune_lr): run one optimizer over its grid of (lr_g, lr_d) on tuning seeds
kept apart from the reported seeds, score each final generator against the held-out split
(`ganopt.scores`), and write best.json, which the reported train_gan runs read.

A grid point's score is the mean over tuning seeds; a seed that diverges scores -inf, so
step sizes that diverge on any tuning seed lose. Ties go to the earlier grid point."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ganopt import io
from ganopt.config import from_dict, schema_section
from ganopt.data import load_prepared
from ganopt.errors import ConfigError
from ganopt.runtime import limit_threads, select_device
from ganopt.scores import score_name, score_samples
from ganopt.session import GanSession, RunSpec, TrainConfig, optimizer_kwargs
from ganopt.train import sample

EVAL_SEED = 4321  # latents of the scored samples (the same for every grid point and seed)


@schema_section(None, seeds="gan.schema.yaml#/properties/tune/properties/seeds")  # bounds from the schema
@dataclass(frozen=True)
class TuneJob:
    """One tune_lr job: a dataset x optimizer, its grid and the tuning seeds."""

    dataset: str
    optimizer: str
    data_dir: str
    grid: list                          # step sizes: a number (lr_g = lr_d) or a [lr_g, lr_d] pair each
    seeds: list                         # tuning seeds (validate_config keeps them apart from gan.seeds)
    train: TrainConfig = field(default_factory=TrainConfig)
    hparams: dict = field(default_factory=dict)
    eval_samples: int = 2000            # generated samples scored per run
    tracking: dict = field(default_factory=lambda: {"enabled": False})
    device: str = "auto"


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


def _json_score(value: float) -> float | None:
    return value if math.isfinite(value) else None


def tune_lr(job: TuneJob, out: Path) -> dict:
    """Run the grid, write `out/best.json` and return its content."""
    from ganopt.jobs import job_run

    data, device = load_prepared(job.data_dir), select_device(job.device)
    points, kwargs = grid_points(job.grid), optimizer_kwargs(job.hparams)
    tags = {"stage": "tune", "dataset": job.dataset, "optimizer": job.optimizer}
    with job_run(asdict(job), f"tune_lr/{job.dataset}/{job.optimizer}", tags=tags) as tracker:
        rows = []
        for i, (lr_g, lr_d) in enumerate(points):
            scores, statuses = [], []
            for seed in job.seeds:
                start = time.perf_counter()
                session = GanSession(RunSpec(job.optimizer, lr_g, lr_d, seed, job.train, kwargs), data, device)
                reason = session.run(job.train.steps)
                score = float("-inf") if reason else \
                    score_samples(sample(session.G.eval(), job.eval_samples, EVAL_SEED), data)[0]
                scores.append(score)
                statuses.append("diverged" if reason else "ok")
                print(f"lr_g {lr_g:g} lr_d {lr_d:g} seed {seed}: score {score:.4g} ({reason or 'ok'}), "
                      f"{time.perf_counter() - start:.1f}s", flush=True)
            mean = sum(scores) / len(scores)
            rows.append({"lr_g": lr_g, "lr_d": lr_d, "score": _json_score(mean),
                         "scores": [_json_score(s) for s in scores], "status": statuses})
            tracker.log_metrics({"tune/lr_g": lr_g, "tune/lr_d": lr_d, "tune/score": mean}, step=i)
        ranked = [r["score"] if r["score"] is not None else float("-inf") for r in rows]
        best = rows[ranked.index(max(ranked))]
        if best["score"] is None:
            print("every grid point diverged on some tuning seed: keeping the first grid point", flush=True)
        result = {"lr_g": best["lr_g"], "lr_d": best["lr_d"], "score": best["score"], "metric": score_name(data.kind),
                  "grid": rows, "seeds": list(job.seeds), "steps": job.train.steps}
        io.write_json(Path(out) / "best.json", result)
        tracker.set_tags({"best_lr_g": best["lr_g"], "best_lr_d": best["lr_d"]})
        tracker.log_artifact(Path(out) / "best.json")
    print(f"tune_lr {job.dataset}/{job.optimizer}: lr_g {best['lr_g']:g} lr_d {best['lr_d']:g} "
          f"score {best['score']} ({result['metric']})")
    return result


def tune_lr_job(job: dict, out: Path) -> None:
    """CLI entry (`ganopt tune-lr`)."""
    limit_threads()
    tune_lr(from_dict(TuneJob, job, where="tune-lr job"), Path(out))


"""CLI entries of the natgrad rules (`ganopt natgrad-warmup|natgrad-rps|natgrad-gan`): parse the
job into the experiment's config, run it inside the job's MLflow run, write summary.json and
run.json beside results/natgrad/<experiment>/<method>.csv and the figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ganopt import timing
from ganopt.config import from_dict, to_dict
from ganopt.io import write_json
from ganopt.jobs import job_run
from ganopt.natgrad.gan import GanConfig, run_gan
from ganopt.natgrad.rps import RPSConfig, run_rps
from ganopt.natgrad.warmup import WarmupConfig, run_warmup
from ganopt.provenance import provenance
from ganopt.runtime import limit_threads

EXPERIMENTS: dict[str, tuple[type, Callable[..., dict]]] = {
    "warmup": (WarmupConfig, run_warmup),
    "rps": (RPSConfig, run_rps),
    "gan": (GanConfig, run_gan),
}


SETTINGS = ("lam", "mu", "player", "seed")   # record keys that name a setting, not a statistic


def _final_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """Summary numbers as MLflow metrics: `<stat>/<method>[/<setting>...]` (simple GAN: per seed)."""
    out = {}
    for method, recs in summary.items():
        recs = recs["seeds"] if isinstance(recs, dict) and "seeds" in recs else recs
        for rec in recs if isinstance(recs, list) else [recs]:
            tag = "/".join(f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}" if k == "seed" else str(v)
                           for k, v in rec.items() if k in SETTINGS)
            for key, value in rec.items():
                if key not in SETTINGS and isinstance(value, (int, float)):
                    out[f"{key}/{method}" + (f"/{tag}" if tag else "")] = float(value)
    return out


def run_experiment(experiment: str, job: dict, out: Path) -> dict:
    """Run one natgrad experiment job into `out`; returns its summary."""
    cls, run = EXPERIMENTS[experiment]
    cfg = from_dict(cls, {k: v for k, v in job.items() if k != "tracking"}, where=f"natgrad.{experiment}")
    limit_threads()
    out = Path(out)
    with job_run(job, f"natgrad_{experiment}", tags={"stage": "natgrad", "experiment": experiment}) as tracker:
        start = time.perf_counter()
        with timing.phase("experiment"):
            summary = run(cfg, out, tracker)
        seconds = time.perf_counter() - start
        write_json(out / "summary.json", {"experiment": experiment, "seconds": seconds, "methods": summary})
        write_json(out / "run.json", {"config": to_dict(cfg), "run_key": tracker.run_id, **provenance()})
        tracker.log_metrics({**_final_metrics(summary), "time/seconds": seconds}, step=0)
        for path in sorted(out.glob("*.png")) + [out / "summary.json"]:
            tracker.log_artifact(path)
    print(f"natgrad {experiment}: {seconds:.1f} s -> {out}")
    return summary


def natgrad_warmup_job(job: dict, out: Path) -> None:
    """Matching pennies with nonlinear players: NG vs GDA, V(t)."""
    run_experiment("warmup", job, out)


def natgrad_rps_job(job: dict, out: Path) -> None:
    """Rock-Paper-Scissors with softmax MLP players over lambda x inits."""
    run_experiment("rps", job, out)


def natgrad_gan_job(job: dict, out: Path) -> None:
    """Finite-support GAN inside the theorem's assumptions: NG vs GDA vs Adam."""
    run_experiment("gan", job, out)

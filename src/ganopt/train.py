"""GAN training of one (dataset, optimizer, seed): the loop, its logs and outputs, resume and divergence.

Writes into the run folder: metrics.csv, norms.csv, samples.png, checkpoint.pt, run.json,
snapshots/step<N>.pt and, last, status.json. A killed run resumes from its resume checkpoint
(kept outside the declared outputs, deleted after success) and ends with the same numbers
as an uninterrupted one, logging into the same MLflow run. A diverged run (NaN/inf or
exploding loss) stops, writes every output with status "diverged" and a FAILED MLflow run,
and the job still exits 0 so the rest of the study goes on."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ganopt import io
from ganopt.checkpoint import generator_record, load_generator, load_resume, sample, save_resume
from ganopt.config import LR, SEED, from_dict, schema_section
from ganopt.data import Prepared, load_prepared
from ganopt.errors import ConfigError, GanoptError
from ganopt.runtime import limit_threads, provenance, select_device
from ganopt.samples_plot import save_samples_figure
from ganopt.scores import score_samples
from ganopt.session import GanSession, RunSpec, TrainConfig, game_scheme, optimizer_kwargs

__all__ = ["TrainJob", "train_gan", "train_gan_job", "load_generator", "sample"]

SAMPLE_SEED = 0           # latents of samples.png and of the final proxy score
N_POINTS, N_IMAGES = 1000, 64
N_SCORE = 2000
METRICS_COLUMNS = ("step", "loss/D", "loss/G", "grad_norm/D", "grad_norm/G", "time/sec_per_step")
NORMS_COLUMNS = ("step", "player", "param", "update_norm", "direction_norm")


@schema_section(None, seed=SEED, lr_g=LR, lr_d=LR)  # bounds from the schema
@dataclass(frozen=True)
class TrainJob:
    """One train_gan job, as the rule passes it (or as `run.json` records it under `job`)."""

    dataset: str
    optimizer: str
    seed: int
    data_dir: str                       # prepared dataset folder (results/data/<dataset>)
    train: TrainConfig = field(default_factory=TrainConfig)
    lr_g: float | None = None           # step sizes from config; used when tune_best is null
    lr_d: float | None = None
    tune_best: str | None = None        # results/tune/<dataset>/<optimizer>/best.json: its step sizes win
    hparams: dict = field(default_factory=dict)  # optimizer keyword arguments (betas, eps, momentum)
    resume: str | None = None           # resume checkpoint path (default: <out>/resume.pt)
    tracking: dict = field(default_factory=lambda: {"enabled": False})
    device: str = "auto"


def resolve_lrs(job: TrainJob) -> tuple[float, float]:
    """(lr_g, lr_d): from the tuning result when the job names one, else from the job itself."""
    if job.tune_best:
        path = Path(job.tune_best)
        if not path.exists():
            raise GanoptError(f"tuning result '{path}' is missing: run the tune_lr rule first "
                              "or set gan.tune.activate: false to use the step sizes in the config")
        best = io.read_json(path, {"lr_g": (int, float), "lr_d": (int, float)},
                            "delete it and rerun the tune_lr rule (`ganopt tune-lr`)")
        return float(best["lr_g"]), float(best["lr_d"])
    if job.lr_g is None or job.lr_d is None:
        raise ConfigError(f"job {job.dataset}/{job.optimizer}: give lr_g and lr_d, or tune_best")
    return float(job.lr_g), float(job.lr_d)


class RunLog:
    """Rows of metrics.csv and norms.csv plus MLflow metrics not yet sent (sent at checkpoints)."""

    def __init__(self, state: dict | None = None) -> None:
        state = state or {}
        self.metrics: list[dict] = state.get("metrics", [])
        self.norms: list[dict] = state.get("norms", [])
        self.pending: list[tuple[dict, int]] = [(m, s) for m, s in state.get("pending", [])]

    def state(self) -> dict:
        return {"metrics": self.metrics, "norms": self.norms, "pending": [[m, s] for m, s in self.pending]}

    def add_metrics(self, step: int, out: dict[str, float], sec_per_step: float) -> None:
        row = {**out, "time/sec_per_step": sec_per_step}
        self.metrics.append({"step": step, **row})
        self.pending.append((row, step))

    def add_norms(self, step: int, players: dict[str, torch.optim.Optimizer]) -> None:
        mlflow: dict[str, float] = {}
        for player, opt in players.items():
            for name, update in opt.last_update_norms.items():
                direction = opt.last_direction_norms[name]
                self.norms.append({"step": step, "player": player, "param": name,
                                   "update_norm": update, "direction_norm": direction})
                # "tensor/...": the UI sorts chart sections by name, these after loss/ and proxy/
                mlflow[f"tensor/update_norm/{player}/{name}"] = update
                mlflow[f"tensor/direction_norm/{player}/{name}"] = direction
        self.pending.append((mlflow, step))

    def send(self, tracker) -> None:  # noqa: ANN001 - Tracker or NullTracker
        for metrics, step in self.pending:
            tracker.log_metrics(metrics, step)
        tracker.flush()
        self.pending = []


def _fingerprint(job: TrainJob, lrs: tuple[float, float]) -> str:
    """Identity of the numbers a job produces (tracking and paths of state excluded)."""
    data = {k: v for k, v in asdict(job).items() if k not in ("tracking", "resume", "tune_best")}
    return hashlib.sha1(json.dumps({**data, "lrs": lrs}, sort_keys=True, default=str).encode()).hexdigest()


def _progress(step: int, total: int, out: dict[str, float], rate: float) -> str:
    eta = (total - step) / rate if rate > 0 else float("inf")
    return (f"step {step}/{total}  loss/D {out['loss/D']:.4f}  loss/G {out['loss/G']:.4f}  "
            f"grad_norm/D {out['grad_norm/D']:.3g}  grad_norm/G {out['grad_norm/G']:.3g}  "
            f"{rate:.1f} it/s  ETA {eta:.0f}s")


def train_gan(job: TrainJob, out: Path) -> str:
    """Run (or resume) the job, write its outputs into `out`; return "ok" or "diverged"."""
    from ganopt.jobs import job_run

    out = Path(out)
    data = load_prepared(job.data_dir)
    lr_g, lr_d = resolve_lrs(job)
    cfg = job.train
    spec = RunSpec(job.optimizer, lr_g, lr_d, job.seed, cfg, optimizer_kwargs(job.hparams))
    session = GanSession(spec, data, select_device(job.device))
    fingerprint = _fingerprint(job, (lr_g, lr_d))
    resume_path = Path(job.resume) if job.resume else out / "resume.pt"
    state, message = load_resume(resume_path, fingerprint)
    print(message, flush=True)
    if state is None:
        shutil.rmtree(out / "snapshots", ignore_errors=True)
        log, run_id, start_step = RunLog(), None, None
    else:
        session.load_state_dict(state["session"])
        log, run_id, start_step = RunLog(state["log"]), state["run_id"], session.step
    players = {"G": session.opt_g, "D": session.opt_d}
    tags = {"stage": "gan", "dataset": job.dataset, "optimizer": job.optimizer, "seed": str(job.seed)}
    job_dict = asdict(job) | {"lr_g": lr_g, "lr_d": lr_d}  # MLflow params: the step sizes used
    with job_run(job_dict, f"train_gan/{job.dataset}/{job.optimizer}/seed{job.seed}", tags=tags,
                 run_id=run_id) as tracker:
        if run_id is None:
            tracker.log_params({"resolved": {"lr_g": lr_g, "lr_d": lr_d,
                                             "scheme": game_scheme(job.optimizer, cfg.scheme)}})
        clock = {"t": time.perf_counter(), "step": session.step, "t0": time.perf_counter(), "s0": session.step}

        def on_step(result: dict[str, float], reason: str | None) -> None:
            step, last = session.step, reason is not None or session.step == cfg.steps
            if step % cfg.metrics_every == 0 or last:
                now = time.perf_counter()
                log.add_metrics(step, result, (now - clock["t"]) / (step - clock["step"]))
                clock.update(t=now, step=step)
            if step % cfg.norms_every == 0 or last:
                log.add_norms(step, players)
            if step % cfg.log_every == 0 or last:
                rate = (step - clock["s0"]) / max(time.perf_counter() - clock["t0"], 1e-9)
                print(_progress(step, cfg.steps, result, rate), flush=True)
            if reason is None and (step % cfg.snapshot_every == 0 or last):
                io.torch_save(out / "snapshots" / f"step{step}.pt",
                              generator_record(cfg.net, session.shape, session.G, step))
            if step % cfg.checkpoint_every == 0 and not last:
                log.send(tracker)
                save_resume(resume_path, fingerprint, session.state_dict(),
                            {"log": log.state(), "run_id": tracker.run_id})

        reason = session.run(cfg.steps, on_step)
        log.send(tracker)
        status = "diverged" if reason else "ok"
        if reason:
            print(f"diverged at step {session.step}: {reason}", flush=True)
            tracker.outcome = "FAILED"
        _write_outputs(out, job, session, data, log, status, tracker, start_step)
        io.write_json(out / "status.json", {"status": status, "step": session.step, "reason": reason})
        tracker.log_artifact(out / "status.json")
    resume_path.unlink(missing_ok=True)
    return status


def _write_rows(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    """A CSV written atomically with the csv module (pandas costs a second of import per job)."""
    with io.atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _write_outputs(out: Path, job: TrainJob, session: GanSession, data: Prepared, log: RunLog, status: str,
                   tracker, start_step: int | None) -> None:  # noqa: ANN001 - Tracker or NullTracker
    """Everything but status.json: metrics/norms CSVs, final checkpoint, samples.png, proxy score, run.json."""
    _write_rows(out / "metrics.csv", log.metrics, METRICS_COLUMNS)
    _write_rows(out / "norms.csv", log.norms, NORMS_COLUMNS)
    net, shape = job.train.net, session.shape
    io.torch_save(out / "checkpoint.pt", {**session.state_dict(), **generator_record(net, shape, session.G, session.step),
                                          "config": asdict(job), "status": status})
    session.G.eval()
    n_show = N_POINTS if data.kind == "points" else N_IMAGES
    title = f"{job.dataset} / {job.optimizer} / seed {job.seed}: step {session.step} ({status})"
    save_samples_figure(out / "samples.png", sample(session.G, n_show, SAMPLE_SEED), data, title)
    if status == "ok":
        score, details = score_samples(sample(session.G, N_SCORE, SAMPLE_SEED), data)
        tracker.log_metrics({"proxy/score": score, **{f"proxy/{k}": v for k, v in details.items()}}, session.step)
        tracker.flush()
    io.write_json(out / "run.json", {
        "job": asdict(job),
        "resolved": {"lr_g": session.spec.lr_g, "lr_d": session.spec.lr_d,
                     "scheme": game_scheme(job.optimizer, job.train.scheme)},
        "provenance": provenance(),
        "mlflow_run_id": tracker.run_id,
        "resumed_from_step": start_step,
    })
    for name in ("samples.png", "run.json", "metrics.csv", "norms.csv"):
        tracker.log_artifact(out / name)


def train_gan_job(job: dict, out: Path) -> None:
    """CLI entry (`ganopt train-gan`): a job dict from the rule, or a run.json to replay its job."""
    if "job" in job and "provenance" in job:  # a run.json: replay its job, with its own resume file
        job = {k: v for k, v in job["job"].items() if k != "resume"}
    limit_threads()
    status = train_gan(from_dict(TrainJob, job, where="train-gan job"), Path(out))
    print(f"train_gan {job['dataset']}/{job['optimizer']}/seed{job['seed']}: {status} -> {out}")

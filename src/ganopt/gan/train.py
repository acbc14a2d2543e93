"""GAN training of the seeds of one (dataset, optimizer) in one job, as one batched model
(ganopt.gan.session): the loop, each seed's logs and outputs, resume and divergence.

Writes each seed's run folder <out>/seed<k>: metrics.csv, norms.csv, samples.png, checkpoint.pt,
run.json, snapshots/step<N>.pt and, last, status.json; each seed is its own MLflow run. A killed job
resumes from the seeds' resume checkpoints (kept outside the declared outputs, deleted after
success) and ends with the same numbers as an uninterrupted one, logging into the same MLflow
runs. A diverged seed (NaN/inf or exploding loss) stops, writes every output with status
"diverged" and a FAILED MLflow run while the other seeds go on, and the job still exits 0 so the
rest of the study goes on."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ganopt import io, timing
from ganopt.config import LR, SEED, from_dict, require_keys, schema_section
from ganopt.data import Prepared, load_prepared
from ganopt.errors import ConfigError, GanoptError
from ganopt.gan.checkpoint import generator_record, load_resume, sample, save_resume
from ganopt.gan.samples_plot import save_samples_figure
from ganopt.gan.scores import score_samples
from ganopt.gan.session import GanSession, RunSpec, SeedView, TrainConfig, game_scheme, optimizer_kwargs
from ganopt.provenance import provenance
from ganopt.runtime import limit_threads, select_device

__all__ = ["TrainJob", "seed_jobs", "train_gan", "train_gan_job"]

SAMPLE_SEED = 0           # latents of samples.png and of the final proxy score
N_POINTS, N_IMAGES = 1000, 64
N_SCORE = 2000
METRICS_COLUMNS = ("step", "loss/D", "loss/G", "grad_norm/D", "grad_norm/G", "time/sec_per_step")
NORMS_COLUMNS = ("step", "player", "param", "update_norm", "direction_norm")


@schema_section(None, seed=SEED, lr_g=LR, lr_d=LR)  # bounds from the schema
@dataclass(frozen=True)
class TrainJob:
    """One seed's run of a train_gan job (a job names `seeds`, see `seed_jobs`); run.json records it under `job`."""

    dataset: str
    optimizer: str
    seed: int
    data_dir: str                       # prepared dataset folder (results/data/<dataset>)
    train: TrainConfig = field(default_factory=TrainConfig)
    lr_g: float | None = None           # step sizes from config; used when tune_best is null
    lr_d: float | None = None
    tune_best: str | None = None        # results/tune/<dataset>/<optimizer>/best.json: its step sizes win
    hparams: dict = field(default_factory=dict)  # optimizer keyword arguments (betas, eps, momentum)
    resume: str | None = None           # this seed's resume checkpoint (default: <run folder>/resume.pt)
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


def tuned_edge(job: TrainJob) -> str | None:
    """Whether the job's tuned step size sits at an edge of its grid (tune_lr's best.json), else None."""
    if not job.tune_best:
        return None
    return io.read_json(Path(job.tune_best)).get("grid_edge")


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


def _fingerprint(job: TrainJob, lrs: tuple[float, float], seeds: list[int]) -> str:
    """Identity of the numbers a run produces (tracking and paths of state excluded), with the seeds
    batched beside it (a batch of other seeds may round differently)."""
    data = {k: v for k, v in asdict(job).items() if k not in ("tracking", "resume", "tune_best")}
    data |= {"lrs": lrs, "batch": seeds}
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _progress(step: int, total: int, out: dict[str, float], rate: float) -> str:
    eta = (total - step) / rate if rate > 0 else float("inf")
    return (f"step {step}/{total}  loss/D {out['loss/D']:.4f}  loss/G {out['loss/G']:.4f}  "
            f"grad_norm/D {out['grad_norm/D']:.3g}  grad_norm/G {out['grad_norm/G']:.3g}  "
            f"{rate:.1f} it/s  ETA {eta:.0f}s")


class SeedRun:
    """The bookkeeping of one seed's run around its SeedView: resume file, logs, snapshots, MLflow
    run, final outputs."""

    def __init__(self, job: TrainJob, out: Path, lrs: tuple[float, float], seeds: list[int]) -> None:
        self.job, self.out, self.lrs = job, Path(out), lrs
        self.fingerprint = _fingerprint(job, lrs, seeds)
        self.resume_path = Path(job.resume) if job.resume else self.out / "resume.pt"
        self.state, message = load_resume(self.resume_path, self.fingerprint)
        print(f"seed {job.seed}: {message}", flush=True)
        if self.state is None:
            self.start_over()
        self.spec = RunSpec(job.optimizer, lrs[0], lrs[1], job.seed, job.train, optimizer_kwargs(job.hparams))

    def start_over(self) -> None:
        """Forget any resume state: a fresh run."""
        self.state = None
        shutil.rmtree(self.out / "snapshots", ignore_errors=True)

    @property
    def name(self) -> str:
        return f"train_gan/{self.job.dataset}/{self.job.optimizer}/seed{self.job.seed}"

    @property
    def params(self) -> dict:
        """MLflow params: the seed's job, with the step sizes actually used."""
        return asdict(self.job) | {"lr_g": self.lrs[0], "lr_d": self.lrs[1]}

    @property
    def tags(self) -> dict[str, str]:
        return {"stage": "gan", "dataset": self.job.dataset, "optimizer": self.job.optimizer, "seed": str(self.job.seed)}

    def begin(self, tracker, session: SeedView) -> None:  # noqa: ANN001 - Tracker or NullTracker
        """Start (or continue) the run's logs once the session holds its state."""
        self.tracker, self.session = tracker, session
        self.log = RunLog(self.state["log"] if self.state else None)
        self.start_step = session.step if self.state else None
        if self.state is None:
            tracker.log_params({"resolved": {"lr_g": self.lrs[0], "lr_d": self.lrs[1],
                                             "scheme": game_scheme(self.job.optimizer, self.job.train.scheme)}})
        now = time.perf_counter()
        self.clock = {"t": now, "step": session.step, "t0": now, "s0": session.step}

    def on_step(self, result: dict[str, float], reason: str | None) -> None:
        """Metrics, norms, progress, snapshots and resume checkpoints after one step."""
        session, cfg, clock, out = self.session, self.job.train, self.clock, self.out
        step, last = session.step, reason is not None or session.step == cfg.steps
        if step % cfg.metrics_every == 0 or last:
            now = time.perf_counter()
            self.log.add_metrics(step, result, (now - clock["t"]) / (step - clock["step"]))
            clock.update(t=now, step=step)
        if step % cfg.norms_every == 0 or last:
            self.log.add_norms(step, session.players)
        if step % cfg.log_every == 0 or last:
            rate = (step - clock["s0"]) / max(time.perf_counter() - clock["t0"], 1e-9)
            print(f"seed {self.job.seed}: {_progress(step, cfg.steps, result, rate)}", flush=True)
        if reason is None and (step % cfg.snapshot_every == 0 or last):
            io.torch_save(out / "snapshots" / f"step{step}.pt", generator_record(cfg.net, session.shape, session.G, step))
        if step % cfg.checkpoint_every == 0 and not last:
            self.log.send(self.tracker)
            save_resume(self.resume_path, self.fingerprint, session.state_dict(),
                        {"log": self.log.state(), "run_id": self.tracker.run_id})

    def finish(self, data: Prepared, reason: str | None) -> str:
        """Write every output (status.json last); return "ok" or "diverged"."""
        self.log.send(self.tracker)
        status = "diverged" if reason else "ok"
        if reason:
            print(f"seed {self.job.seed}: diverged at step {self.session.step}: {reason}", flush=True)
            self.tracker.outcome = "FAILED"
        _write_outputs(self.out, self.job, self.session, data, self.log, status, self.tracker, self.start_step)
        io.write_json(self.out / "status.json", {"status": status, "step": self.session.step, "reason": reason})
        self.tracker.log_artifact(self.out / "status.json")
        return status


def seed_jobs(job: dict) -> list[TrainJob]:
    """The per-seed runs of a train-gan job: its fields less `seeds`, one `seed` each, and each
    seed's resume file at <resume>/seed<k>/resume.pt when `resume` (a folder) is given."""
    require_keys(job, "train-gan job", dataset=str, optimizer=str, seeds=list[int], data_dir=str)
    seeds = job["seeds"]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"train-gan job: 'seeds' must be a non-empty list of distinct seeds, got {seeds!r}")
    base = {k: v for k, v in job.items() if k not in ("seeds", "resume")}
    return [from_dict(TrainJob, {**base, "seed": seed,
                                 "resume": f"{job['resume']}/seed{seed}/resume.pt" if job.get("resume") else None},
                      where="train-gan job") for seed in seeds]


def train_gan(jobs: list[TrainJob], out: Path) -> list[str]:
    """Train the seeds of one (dataset, optimizer) as one batched model into out/seed<k>; every
    seed's outputs, resume file and MLflow run are its own. Resumes when every seed has a resume
    file at one common step, else starts every seed afresh. Returns each seed's "ok" or "diverged"."""
    from ganopt.jobs import job_run

    first = jobs[0]
    if any((j.dataset, j.optimizer, j.data_dir) != (first.dataset, first.optimizer, first.data_dir) for j in jobs):
        raise ConfigError("the seeds of a train-gan job must share dataset, optimizer and data")
    data = load_prepared(first.data_dir)
    seeds = [job.seed for job in jobs]
    runs = [SeedRun(job, Path(out) / f"seed{job.seed}", resolve_lrs(job), seeds) for job in jobs]
    session = GanSession([run.spec for run in runs], data, select_device(first.device))
    states = [run.state for run in runs]
    if any(s is not None for s in states):
        if all(s is not None for s in states) and len({s["session"]["step"] for s in states}) == 1:
            session.load_seed_states([s["session"] for s in states])
        else:
            print("resume files of the seeds are missing or at different steps: starting every seed afresh", flush=True)
            for run in runs:
                run.start_over()
    statuses: list[str] = [""] * len(runs)
    with contextlib.ExitStack() as stack:
        for k, run in enumerate(runs):
            tracker = stack.enter_context(job_run(run.params, run.name, tags=run.tags,
                                                  run_id=run.state and run.state["run_id"]))
            run.begin(tracker, session.seed(k))

        def on_step(k: int, result: dict[str, float], reason: str | None) -> None:
            runs[k].on_step(result, reason)
            if reason is not None:
                statuses[k] = runs[k].finish(data, reason)

        with timing.phase("loop"):
            session.run(first.train.steps, on_step)
        with timing.phase("outputs"):
            for k, run in enumerate(runs):
                if session.active[k]:
                    statuses[k] = run.finish(data, None)
    for run in runs:
        run.resume_path.unlink(missing_ok=True)
    return statuses


def _write_rows(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    """A CSV written atomically with the csv module (pandas costs a second of import per job)."""
    with io.atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _write_outputs(out: Path, job: TrainJob, session: SeedView, data: Prepared, log: RunLog, status: str,
                   tracker, start_step: int | None) -> None:  # noqa: ANN001 - Tracker or NullTracker
    """Everything but status.json: metrics/norms CSVs, final checkpoint, samples.png, proxy score, run.json."""
    _write_rows(out / "metrics.csv", log.metrics, METRICS_COLUMNS)
    _write_rows(out / "norms.csv", log.norms, NORMS_COLUMNS)
    net, shape = job.train.net, session.shape
    G = session.G.eval()
    io.torch_save(out / "checkpoint.pt", {**session.state_dict(), **generator_record(net, shape, G, session.step),
                                          "config": asdict(job), "status": status})
    n_show = N_POINTS if data.kind == "points" else N_IMAGES
    title = f"{job.dataset} / {job.optimizer} / seed {job.seed}: step {session.step} ({status})"
    save_samples_figure(out / "samples.png", sample(G, n_show, SAMPLE_SEED), data, title)
    if status == "ok":
        score, details = score_samples(sample(G, N_SCORE, SAMPLE_SEED), data)
        tracker.log_metrics({"proxy/score": score, **{f"proxy/{k}": v for k, v in details.items()}}, session.step)
        tracker.flush()
    io.write_json(out / "run.json", {
        "job": asdict(job),
        "resolved": {"lr_g": session.spec.lr_g, "lr_d": session.spec.lr_d,
                     "scheme": game_scheme(job.optimizer, job.train.scheme), "grid_edge": tuned_edge(job)},
        "provenance": provenance(),
        "run_key": tracker.run_id,
        "resumed_from_step": start_step,
    })
    for name in ("samples.png", "run.json", "metrics.csv", "norms.csv"):
        tracker.log_artifact(out / name)


def train_gan_job(job: dict, out: Path) -> None:
    """CLI entry (`ganopt train-gan`): a job dict naming `seeds` (from the rule), or a seed's run.json
    to replay its run; each seed's outputs go to out/seed<k>."""
    if "job" in job and "provenance" in job:  # a run.json: replay its seed, with its own resume file
        run = job["job"]
        if not isinstance(run, dict) or "seed" not in run:
            raise ConfigError("--config holds a run.json without its job's seed: replay a train_gan run.json")
        job = {k: v for k, v in run.items() if k not in ("resume", "seed")} | {"seeds": [run["seed"]]}
    jobs = seed_jobs(job)
    limit_threads()
    for j, status in zip(jobs, train_gan(jobs, Path(out))):
        print(f"train_gan {j.dataset}/{j.optimizer}/seed{j.seed}: {status} -> {Path(out) / f'seed{j.seed}'}")

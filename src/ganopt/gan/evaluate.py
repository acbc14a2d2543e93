"""compute_fid: score every generator snapshot of each training run (and its end) into its fid.json,
for the seeds of one (dataset, optimizer) in one job.

Image datasets get `fid_<source>`/`kid_<source>` per feature source; 2-D mixtures get mode
metrics. `plateau` holds, per metric, whether it has plateaued over the last snapshots. MLflow: one
run per scored seed, nested under the seed's training run (parent id from run.json) with
`eval/<key>` metrics at the training steps. A child run rather than writing into
the finished training run: a rerun (new fid config) does not append duplicate points to it, a
failure here cannot mark the training FAILED, and the fid config is this run's params."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

import torch

from ganopt import io, timing
from ganopt.data import Prepared
from ganopt.metrics import higher_is_better
from ganopt.metrics.classes import class_metrics
from ganopt.metrics.features import FeatureSource
from ganopt.metrics.fid import FidConfig, Reference, extract, score, seeded_subset
from ganopt.metrics.modes import mode_metrics
from ganopt.metrics.plateau import plateau

SNAPSHOT = re.compile(r"step(\d+)\.pt")
TRAIN_FIX = "delete the run folder and rerun its train_gan rule (`ganopt train-gan`)"


class Scorer(Protocol):
    def n_samples(self, final: bool) -> int: ...
    def __call__(self, samples: torch.Tensor, final: bool) -> dict[str, float]: ...
    def describe(self) -> dict: ...


class ImageScorer:
    """FID and KID under each configured feature source (a source with steps "final" only at the end),
    and class coverage under the domain net's classifier when that source is configured."""

    def __init__(self, cfg: FidConfig, sources: dict[str, tuple[FeatureSource, Reference]],
                 device: torch.device | str = "cpu") -> None:
        self.cfg, self.sources, self.device = cfg, sources, device
        self.classifier = sources["domain"][0].extractor.net if "domain" in sources else None

    def _active(self, final: bool) -> list[str]:
        return [name for name in self.sources if final or self.cfg.source(name).steps == "all"]

    def n_samples(self, final: bool) -> int:
        wanted = [self.cfg.source(name).n_samples for name in self._active(final)]
        return max(wanted + ([self.cfg.classes.n_samples] if self.classifier is not None else []), default=0)

    def __call__(self, samples: torch.Tensor, final: bool) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in self._active(final):
            source, ref = self.sources[name]
            n = self.cfg.source(name).n_samples
            out |= score(extract(source, samples[:n], self.cfg.batch_size, self.device), source, ref, self.cfg)
            out[f"n_{name}"] = n
        if self.classifier is not None:
            out |= class_metrics(self.classifier, samples[:self.cfg.classes.n_samples], self.cfg.classes)
        return out

    def describe(self) -> dict:
        return {name: {"feature_sha1": src.sha1, "feature_path": src.path, "resize": src.resize,
                       "steps": self.cfg.source(name).steps, **{k: v for k, v in ref.meta.items()
                                                                if k not in ("feature_sha1", "feature_path")}}
                for name, (src, ref) in self.sources.items()}


class PointScorer:
    """Mode metrics of a 2-D mixture; the energy distance against a seeded n_samples-point subset of
    its train split (bounds the pairwise-distance matrix)."""

    def __init__(self, cfg: FidConfig, data: Prepared) -> None:
        self.cfg, self.data = cfg, data
        self.centers = torch.tensor(data.meta["centers"])
        self.reference = data.train[seeded_subset(len(data.train), cfg.modes.n_samples, cfg.seed)]

    def n_samples(self, final: bool) -> int:
        return self.cfg.modes.n_samples

    def __call__(self, samples: torch.Tensor, final: bool) -> dict[str, float]:
        modes = self.cfg.modes
        metrics = mode_metrics(samples, self.centers, self.data.meta["std"], self.reference, modes.min_count,
                               modes.radius_std)
        return metrics | {"n_samples": len(samples)}

    def describe(self) -> dict:
        return {"modes": {"radius_std": self.cfg.modes.radius_std, "min_count": self.cfg.modes.min_count,
                          "std": self.data.meta["std"], "reference": "train", "reference_n": len(self.reference)}}


def evaluation_points(run_dir: Path, final_step: int) -> list[tuple[int, Path]]:
    """(step, file) of each generator snapshot, plus checkpoint.pt when no snapshot is at the final step
    (a diverged run saves no snapshot of its non-finite generator, only its checkpoint)."""
    snaps = sorted((int(m.group(1)), p) for p in (run_dir / "snapshots").glob("step*.pt")
                   if (m := SNAPSHOT.fullmatch(p.name)))
    if (not snaps or snaps[-1][0] < final_step) and (run_dir / "checkpoint.pt").is_file():
        snaps.append((final_step, run_dir / "checkpoint.pt"))
    return snaps


def run_architecture(run_dir: Path, shape: tuple[int, ...] | None) -> dict:
    """What every generator file of the run must be: the net of its config (run.json) and the data shape."""
    net = io.read_json(run_dir / "run.json", fix=TRAIN_FIX) if (run_dir / "run.json").is_file() else {}
    for key in ("job", "train", "net"):
        net = net.get(key) if isinstance(net, dict) else None
    return ({"net": net} if isinstance(net, dict) else {}) | ({"shape": list(shape)} if shape else {})


def compute_fid(run_dir: str | Path, scorer: Scorer, cfg: FidConfig, device: torch.device | str = "cpu",
                shape: tuple[int, ...] | None = None) -> dict:
    """The fid.json record of one run: its status and one record per evaluated step. Each generator
    file must have the run's architecture (its config's net, the data `shape` when given)."""
    from ganopt.gan.checkpoint import load_generator, sample

    run_dir = Path(run_dir)
    status = io.read_json(run_dir / "status.json", {"status": str, "step": int}, TRAIN_FIX)
    points = evaluation_points(run_dir, status["step"])
    like = run_architecture(run_dir, shape)
    records = []
    for i, (step, path) in enumerate(points):
        final = i == len(points) - 1
        samples = sample(load_generator(path, device, like), scorer.n_samples(final), cfg.seed, cfg.batch_size)
        record = {"step": step, "final": final, "file": str(path.relative_to(run_dir))}
        if torch.isfinite(samples).all():
            record |= {"status": "ok", **scorer(samples, final)}
        else:
            record["status"] = "nonfinite"  # a diverged generator: nothing to score
        records.append(record)
    return {"run_status": status["status"], "reason": status.get("reason"), "final_step": status["step"],
            "seed": cfg.seed, "sources": scorer.describe(), "records": records,
            "plateau": plateaus(records, status["step"], cfg)}


def plateaus(records: list[dict], final_step: int, cfg: FidConfig) -> dict[str, dict]:
    """ganopt.metrics.plateau of every metric the records carry (n_* counts left out)."""
    metrics = sorted({k for r in records for k, v in r.items() if _is_number(v) and k != "step"
                      and not k.startswith("n_")})
    return {m: plateau([r["step"] for r in records], [r.get(m, float("nan")) for r in records], final_step,
                       cfg.plateau, higher_is_better(m)) for m in metrics}


def build_scorer(data: Prepared, cfg: FidConfig, feature_dir: Path, device: torch.device | str) -> Scorer:
    from ganopt.metrics.features import load_source
    from ganopt.metrics.fid import load_reference

    if data.kind == "points":
        return PointScorer(cfg, data)
    sources = {name: (load_source(name, feature_dir, cfg.inception.path, device, cfg.inception.sha1),
                      load_reference(feature_dir / f"ref_stats_{name}.npz")) for name in cfg.sources}
    return ImageScorer(cfg, sources, device)


def compute_fid_job(job: dict, out: Path) -> None:
    """CLI entry (`ganopt compute-fid`): job = {"dataset", "optimizer", "seeds", "data_dir",
    "feature_dir", "fid"}; out holds the runs' seed<k> folders (results/gan/<dataset>/<optimizer>).
    The feature nets and references are loaded once for all seeds."""
    from ganopt.config import require_keys
    from ganopt.errors import ConfigError

    require_keys(job, "compute-fid job", dataset=str, optimizer=str, seeds=list[int], data_dir=str, feature_dir=str)
    if not job["seeds"]:
        raise ConfigError("'compute-fid job.seeds' must not be empty")
    runs = [(seed, Path(out) / f"seed{seed}") for seed in job["seeds"]]
    _score_runs({k: v for k, v in job.items() if k != "seeds"}, runs)


def _score_runs(job: dict, runs: list[tuple[int, Path]]) -> None:
    """fid.json and the MLflow run of each (seed, run folder), with one scorer for all."""
    from ganopt.data import load_prepared
    from ganopt.metrics.fid import fid_config
    from ganopt.runtime import limit_threads, select_device

    limit_threads()
    cfg = fid_config(job)
    device = select_device(job.get("device", "auto"))
    with timing.phase("eval"):
        data = load_prepared(job["data_dir"])
        scorer = build_scorer(data, cfg, Path(job["feature_dir"]), device)
        for seed, out in runs:
            _score_run({**job, "seed": seed}, out, scorer, cfg, device, tuple(data.train.shape[1:]))


def _score_run(job: dict, out: Path, scorer: Scorer, cfg: FidConfig, device: torch.device,
               shape: tuple[int, ...]) -> None:
    from ganopt.jobs import job_run

    name = f"{job['dataset']}/{job['optimizer']}/seed{job['seed']}"
    not_a_run = ("--out must hold the finished training runs of the job's seeds (results/gan/<dataset>/"
                 f"<optimizer>/seed<k>), and {out} is not one; if it should be, delete it and rerun its train_gan rule")
    train_run = io.read_json(out / "run.json", {"run_key": (str, type(None))}, not_a_run)["run_key"]
    tags = {"stage": "fid", "dataset": job["dataset"], "optimizer": job["optimizer"], "seed": str(job["seed"])}
    tags |= {"mlflow.parentRunId": train_run} if train_run else {}  # nested under the training's run (by its key)
    with job_run(job, f"compute_fid/{name}", tags=tags) as tracker:
        result = {"dataset": job["dataset"], "optimizer": job["optimizer"], "train_seed": job["seed"],
                  **compute_fid(out, scorer, cfg, device, shape)}
        for record in result["records"]:
            tracker.log_metrics({f"eval/{k}": v for k, v in record.items() if k != "step" and _is_number(v)},
                                step=record["step"])
        tracker.set_tags({"run_status": result["run_status"], "eval/sources": ",".join(result["sources"])}
                         | {f"plateau/{m}": str(t["plateaued"]) for m, t in result["plateau"].items()})
        io.write_json(out / "fid.json", result)
        tracker.log_artifact(out / "fid.json")
    final = result["records"][-1] if result["records"] else {}
    print(f"{name}: {result['run_status']}, {len(result['records'])} steps scored; final: "
          + ", ".join(f"{k} {v:.4g}" for k, v in final.items() if _is_number(v) and k != "step"))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

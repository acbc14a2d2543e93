"""Readers of the stages' outputs into pandas frames: GAN runs (status, step sizes), their
evaluation records, plateau tests and real-vs-real FID floors (fid.json), Adam's update norms (norms.csv), toy and natgrad trajectories.
A missing file is a DataMissingError naming it and the rule that writes it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ganopt import io
from ganopt.errors import DataMissingError
from ganopt.report.plan import StudyPlan

# fid.json record keys that describe the evaluation rather than measure the generator
NOT_METRICS = ("step", "final", "file", "status", "n_modes", "n_samples")


def run_dir(root: Path, dataset: str, optimizer: str, seed: int) -> Path:
    """A GAN run's folder under the study folder `root` (the one holding results/)."""
    return Path(root) / "results" / "gan" / dataset / optimizer / f"seed{seed}"


def _need(path: Path, rule: str) -> Path:
    if not path.is_file():
        raise DataMissingError(f"{path} is missing: run rule {rule} first")
    return path


def _csv(path: Path, rule: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """A stage's CSV output holding `columns`, or one line saying which rule to run or rerun."""
    return io.read_csv(_need(path, rule), columns, f"delete it and rerun rule {rule}")


def _gan_runs(plan: StudyPlan, root: Path):
    for dataset in plan.datasets:
        for optimizer in plan.optimizers:
            for seed in plan.seeds:
                yield dataset, optimizer, seed, run_dir(root, dataset, optimizer, seed)


def load_runs(plan: StudyPlan, root: Path) -> pd.DataFrame:
    """One row per GAN run: status ("ok" | "diverged"), last step, reason, resolved step sizes and
    whether tuning chose them at an edge of the grid (grid_edge; None inside it or untuned)."""
    rows = []
    for dataset, optimizer, seed, folder in _gan_runs(plan, root):
        status = io.read_json(_need(folder / "status.json", "train_gan"))
        resolved = io.read_json(_need(folder / "run.json", "train_gan"))["resolved"]
        rows.append({"dataset": dataset, "optimizer": optimizer, "seed": seed, "status": status["status"],
                     "step": status["step"], "reason": status.get("reason"),
                     "lr_g": resolved["lr_g"], "lr_d": resolved["lr_d"], "grid_edge": resolved.get("grid_edge")})
    return pd.DataFrame(rows, columns=["dataset", "optimizer", "seed", "status", "step", "reason", "lr_g", "lr_d",
                                       "grid_edge"])


def load_quality(plan: StudyPlan, root: Path) -> pd.DataFrame:
    """Long frame of every evaluated step of every run: dataset, optimizer, seed, step, final, metric,
    value. A record whose generator was non-finite (diverged) gives NaN for each metric of the run."""
    columns = ["dataset", "optimizer", "seed", "step", "final", "metric", "value"]
    if not plan.fid:
        return pd.DataFrame(columns=columns)
    rows = []
    for dataset, optimizer, seed, folder in _gan_runs(plan, root):
        records = io.read_json(_need(folder / "fid.json", "compute_fid"))["records"]
        metrics = sorted({k for r in records for k, v in r.items() if k not in NOT_METRICS and not k.startswith("n_")
                          and isinstance(v, (int, float)) and not isinstance(v, bool)})
        for record in records:
            for metric in metrics:
                value = record.get(metric, math.nan) if record.get("status") == "ok" else math.nan
                rows.append((dataset, optimizer, seed, record["step"], bool(record["final"]), metric, float(value)))
    return pd.DataFrame(rows, columns=columns)


def load_plateau(plan: StudyPlan, root: Path) -> pd.DataFrame:
    """fid.json's plateau test of every metric of every run: dataset, optimizer, seed, metric,
    relative_change, plateaued (None: not enough evaluations or a diverged end), from_step (start of
    the last compared span)."""
    columns = ["dataset", "optimizer", "seed", "metric", "relative_change", "plateaued", "from_step"]
    rows = []
    for dataset, optimizer, seed, folder in _gan_runs(plan, root) if plan.fid else ():
        for metric, test in io.read_json(_need(folder / "fid.json", "compute_fid")).get("plateau", {}).items():
            rows.append((dataset, optimizer, seed, metric, test["relative_change"], test["plateaued"],
                         test["from_step"]))
    return pd.DataFrame(rows, columns=columns)


def load_floors(plan: StudyPlan, root: Path) -> dict[tuple[str, str], float]:
    """(dataset, metric) -> the real-vs-real value of that FID/KID metric (the other real split
    scored against the reference statistics, recorded by reference_stats and copied into fid.json)."""
    floors = {}
    for dataset, _, _, folder in _gan_runs(plan, root) if plan.fid else ():
        if any(d == dataset for d, _ in floors):
            continue
        for source in io.read_json(_need(folder / "fid.json", "compute_fid")).get("sources", {}).values():
            floors |= {(dataset, k.removesuffix("_real")): float(v) for k, v in source.items()
                       if k.endswith("_real") and isinstance(v, (int, float))}
    return floors


def load_norms(plan: StudyPlan, root: Path, optimizer: str = "adam") -> pd.DataFrame:
    """norms.csv of every run of `optimizer`, with dataset and seed columns."""
    frames = []
    for dataset, name, seed, folder in _gan_runs(plan, root):
        if name == optimizer:
            frame = _csv(folder / "norms.csv", "train_gan", ("step", "player", "param", "update_norm"))
            frames.append(frame.assign(dataset=dataset, seed=seed))
    if not frames:
        return pd.DataFrame(columns=["dataset", "seed", "step", "player", "param", "update_norm", "direction_norm"])
    return pd.concat(frames, ignore_index=True)


def load_toy(plan: StudyPlan, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The toy stage's runs with their shares and events at the step rule (results/toy/seeds.csv) and
    its per-d summary (sweep.csv: per optimizer and d, the share of seeds with each event, its interval
    and verdict); both empty when the toy stage is off."""
    if not plan.toy:
        return pd.DataFrame(), pd.DataFrame()
    folder = Path(root) / "results" / "toy"
    return (_csv(folder / "seeds.csv", "toy_compare", ("optimizer", "d", "seed", "min_p", "both_modes", "collapses")),
            _csv(folder / "sweep.csv", "toy_compare", ("optimizer", "seed_share_min", "n_seeds")))


def _natgrad_csvs(plan: StudyPlan, flow: bool) -> list[Path]:
    """The natgrad stage's method CSVs (results/natgrad/<experiment>/<method>.csv), or its flow
    checks (<experiment>/flow.csv); the flow summary (results/natgrad/flow/) is neither."""
    paths = [Path(p) for p in plan.natgrad if Path(p).relative_to("results").parts[1] != "flow"]
    return [p for p in paths if (p.name == "flow.csv") == flow]


def load_natgrad(plan: StudyPlan, root: Path) -> pd.DataFrame:
    """Every natgrad trajectory, with an `experiment` column (from results/natgrad/<experiment>/<method>.csv)."""
    frames = []
    for path in _natgrad_csvs(plan, flow=False):
        experiment = path.relative_to("results").parts[1]
        frames.append(_csv(Path(root) / path, f"natgrad_{experiment}", ("method", "step", "V")).assign(experiment=experiment))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_natgrad_flow(plan: StudyPlan, root: Path) -> pd.DataFrame:
    """Every natgrad flow check (results/natgrad/<experiment>/flow.csv: per setting, init, integrator
    and step size, the rises of V; ganopt.natgrad.flow), with an `experiment` column."""
    frames = []
    for path in _natgrad_csvs(plan, flow=True):
        experiment = path.relative_to("results").parts[1]
        frame = io.read_csv(_need(Path(root) / path, f"natgrad_{experiment}"), ("setting", "init", "integrator", "rises"),
                            f"delete it and rerun rule natgrad_{experiment}", keep_default_na=False, na_values=[""])
        if not frame.empty:
            frames.append(frame.assign(experiment=experiment))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

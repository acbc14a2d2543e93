"""CLI entries of the toy rules. toy_theorem: one optimizer, all its step-size settings and seeds
in one batched simulation -> <out>/<optimizer>.csv, .png, .json. toy_compare: every optimizer's
CSV -> <out>/compare.png and <out>/summary.csv. Each job is one MLflow run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ganopt.config import from_dict, require_keys, to_dict
from ganopt.errors import ConfigError, GanoptError
from ganopt.io import read_csv, write_csv, write_json
from ganopt.runtime import limit_threads, provenance, select_device
from ganopt.toy.config import TOY_OPTIMIZERS, ToyConfig
from ganopt.toy.report import COMPARE_PANELS, metric_columns, plot, summarize, summary_table, to_frame
from ganopt.toy.simulate import simulate


def _log_trajectory(tracker, frame) -> None:  # noqa: ANN001 - Tracker or NullTracker
    """Seed means per evaluated step; keys prefixed `setting<k>/` when several settings ran."""
    several = frame["setting"].nunique() > 1
    means = frame.groupby(["setting", "step"])[metric_columns(frame)].mean()
    for (setting, step), row in means.iterrows():
        prefix = f"setting{setting}/" if several else ""
        tracker.log_metrics({prefix + k: v for k, v in row.items()}, step=int(step))


def toy_theorem_job(job: dict, out: Path) -> None:
    """job = {"optimizer": name, "toy": {ToyConfig keys}, "tracking": {...}, "device": str}."""
    from ganopt.jobs import job_run

    optimizer = job.get("optimizer")
    if optimizer not in TOY_OPTIMIZERS:
        raise ConfigError(f"toy optimizer '{optimizer}' is not one of {', '.join(TOY_OPTIMIZERS)}")
    cfg = from_dict(ToyConfig, job.get("toy", {}), where="toy")
    limit_threads()
    device = select_device(job.get("device", "auto"))
    out = Path(out)
    with job_run(job, f"toy_theorem/{optimizer}", tags={"stage": "toy", "optimizer": optimizer}) as tracker:
        traj = simulate(cfg, optimizer, range(cfg.n_seeds), device)
        frame = to_frame(traj, optimizer)
        summary = summarize(frame, cfg.both_modes_min)
        write_csv(out / f"{optimizer}.csv", frame)
        plot(frame, out / f"{optimizer}.png", f"toy theorem, {optimizer} (lr_g/lr_d)", cfg.recover_cos,
             cfg.both_modes_min)
        write_json(out / f"{optimizer}.json", {"optimizer": optimizer, "config": to_dict(cfg),
                                               "device": str(device), "mlflow_run_id": tracker.run_id,
                                               "summary": summary, **provenance()})
        _log_trajectory(tracker, frame)
        for path in (out / f"{optimizer}.csv", out / f"{optimizer}.png", out / f"{optimizer}.json"):
            tracker.log_artifact(path)
    for s in summary:
        end = s["end"]["metrics"]
        print(f"{optimizer} lr_g={s['lr_g']:g} lr_d={s['lr_d']:g} at step {s['end']['step']}: recovery u1/u2 "
              f"(all) {end['recovery/u1/all']['mean']:.3f}/{end['recovery/u2/all']['mean']:.3f}, both modes in "
              f"{s['end']['both_modes_seeds']}/{s['n_seeds']} seeds; mean |cos| to u1+u2 (moved) "
              f"{end['collapse_cos/moved']['mean']}")


def toy_compare_job(job: dict, out: Path) -> None:
    """job = {"optimizers": [names], "recover_cos": float, "both_modes_min": float, "tracking", "device"};
    reads <out>/<optimizer>.csv of each and writes the side-by-side figure and summary table."""
    from ganopt.jobs import job_run

    require_keys(job, "toy-compare job", optimizers=list[str], recover_cos=float, both_modes_min=float)
    out = Path(out)
    missing = [o for o in job["optimizers"] if not (out / f"{o}.csv").exists()]
    if missing:
        raise GanoptError(f"toy results missing for {', '.join(missing)}: run rule toy_theorem first")
    frames = [read_csv(out / f"{o}.csv", ("optimizer", "setting", "lr_g", "lr_d", "seed", "step"),
                       f"delete it and rerun the toy_theorem rule of {o}") for o in job["optimizers"]]
    frame = pd.concat(frames, ignore_index=True)
    with job_run(job, "toy_compare", tags={"stage": "toy"}) as tracker:
        table = summary_table(frame, job["both_modes_min"])
        write_csv(out / "summary.csv", table)
        plot(frame, out / "compare.png", "toy theorem, every optimizer", job["recover_cos"],
             job["both_modes_min"], COMPARE_PANELS)
        for path in (out / "summary.csv", out / "compare.png"):
            tracker.log_artifact(path)
    columns = ["optimizer", "lr_g", "lr_d", "point", "step", "both_modes_seeds", "recovery/u1/all:mean",
               "recovery/u2/all:mean", "recovery/u1/moved:mean", "recovery/u2/moved:mean",
               "collapse_cos/moved:mean", "xi_ratio/moved:mean", "moved_frac:mean"]
    with pd.option_context("display.width", 250, "display.precision", 3):
        print(table[columns].to_string(index=False))

"""CLI entries of the toy rules. toy_theorem: one optimizer over the whole sweep (per d, every
(<u1, u2>, init scale) setting and seed in one batched simulation) -> <out>/<optimizer>.csv, .png,
.json. toy_compare: every optimizer's CSV -> <out>/compare.png, seeds.csv (each run's events),
sweep.csv and sweep.png (per setting: share of seeds with each event, interval, verdict). Each job
is one MLflow run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ganopt import timing
from ganopt.config import from_dict, require_keys, to_dict
from ganopt.errors import ConfigError, GanoptError
from ganopt.io import read_csv, write_csv, write_json
from ganopt.provenance import provenance
from ganopt.runtime import limit_threads, select_device
from ganopt.toy.config import TOY_OPTIMIZERS, ToyConfig
from ganopt.toy.figures import at_setting, plot_compare, plot_optimizer, plot_sweep
from ganopt.toy.report import EVENTS, RUN, SETTING, seed_events, sweep_table, to_frame
from ganopt.toy.simulate import simulate

LOGGED = ("collapsed", "recovered/u1", "recovered/u2", "moved")


def _log_headline(tracker, frame: pd.DataFrame, headline: tuple[int, float, float]) -> None:
    """Seed means per evaluated step of the headline setting."""
    for step, row in at_setting(frame, headline).groupby("step")[list(LOGGED)].mean().iterrows():
        tracker.log_metrics(row.to_dict(), step=int(step))


def toy_theorem_job(job: dict, out: Path) -> None:
    """job = {"optimizer": name, "toy": {ToyConfig keys, lr_g and lr_d included}, "tracking", "device"}."""
    from ganopt.jobs import job_run

    optimizer = job.get("optimizer")
    if optimizer not in TOY_OPTIMIZERS:
        raise ConfigError(f"toy optimizer '{optimizer}' is not one of {', '.join(TOY_OPTIMIZERS)}")
    cfg = from_dict(ToyConfig, job.get("toy", {}), where="toy")
    limit_threads()
    device = select_device(job.get("device", "auto"))
    out = Path(out)
    with job_run(job, f"toy_theorem/{optimizer}", tags={"stage": "toy", "optimizer": optimizer}) as tracker:
        with timing.phase("simulate"):
            frame = pd.concat([to_frame(simulate(cfg, optimizer, d, range(cfg.n_seeds), device), optimizer,
                                        cfg.lr_g, cfg.lr_d) for d in cfg.d], ignore_index=True)
            sweep = sweep_table(seed_events(frame, cfg.collapse_min, cfg.both_modes_min), cfg.seed_share_min)
            write_csv(out / f"{optimizer}.csv", frame)
            plot_optimizer(frame, out / f"{optimizer}.png", f"toy theorem, {optimizer} "
                           f"(eta_G {cfg.lr_g:g}, eta_D {cfg.lr_d:g})")
        write_json(out / f"{optimizer}.json", {"optimizer": optimizer, "config": to_dict(cfg),
                                               "device": str(device), "run_key": tracker.run_id,
                                               "sweep": sweep.to_dict(orient="records"), **provenance()})
        _log_headline(tracker, frame, cfg.headline)
        for path in (out / f"{optimizer}.csv", out / f"{optimizer}.png", out / f"{optimizer}.json"):
            tracker.log_artifact(path)
    _print(sweep)


def _print(sweep: pd.DataFrame) -> None:
    columns = ["optimizer", *SETTING, "n_seeds"] + [f"{e}_{k}" for e in EVENTS for k in ("n", "seeds", "verdict")]
    with pd.option_context("display.width", 250, "display.precision", 3):
        print(sweep[columns].to_string(index=False))


def toy_compare_job(job: dict, out: Path) -> None:
    """job = {"optimizers": [names], "headline": [d, u_cos, init_scale], "collapse_min", "both_modes_min",
    "seed_share_min", "tracking", "device"}; reads <out>/<optimizer>.csv of each and writes the comparison and sweep outputs."""
    from ganopt.jobs import job_run

    require_keys(job, "toy-compare job", optimizers=list[str], headline=list, collapse_min=float, both_modes_min=float,
                 seed_share_min=float)
    out = Path(out)
    missing = [o for o in job["optimizers"] if not (out / f"{o}.csv").exists()]
    if missing:
        raise GanoptError(f"toy results missing for {', '.join(missing)}: run rule toy_theorem first")
    with timing.phase("compare"):
        frame = pd.concat([read_csv(out / f"{o}.csv", (*RUN, "lr_g", "lr_d", "step"),
                                    f"delete it and rerun the toy_theorem rule of {o}") for o in job["optimizers"]],
                          ignore_index=True)
    with job_run(job, "toy_compare", tags={"stage": "toy"}) as tracker:
        with timing.phase("compare"):
            events = seed_events(frame, job["collapse_min"], job["both_modes_min"])
            sweep = sweep_table(events, job["seed_share_min"])
            write_csv(out / "seeds.csv", events)
            write_csv(out / "sweep.csv", sweep)
            plot_compare(frame, out / "compare.png", tuple(job["headline"]))
            plot_sweep(sweep, out / "sweep.png", job["seed_share_min"])
        for name in ("seeds.csv", "sweep.csv", "compare.png", "sweep.png"):
            tracker.log_artifact(out / name)
    _print(sweep)

"""CLI entries of the toy rules. toy_theorem: one optimizer at every d (per d, every u_cos and seed
in one batched simulation) -> <out>/<optimizer>.csv, .png, .json. toy_compare: every optimizer's
CSV -> <out>/seeds.csv (each run's shares and events at the step rule), sweep.csv (per optimizer
and d: share of seeds with each event, interval, verdict), compare.png and phase.png. toy_tune:
one optimizer's step-size grid on the tuning seeds -> <out>/tune/<optimizer>.csv, the choice per d
that config.yaml records. Each job is one MLflow run."""

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
from ganopt.toy.figures import plot_compare, plot_optimizer, plot_phase
from ganopt.toy.metrics import cone_degrees
from ganopt.toy.report import EVENTS, RUN, SETTING, run_events, summary_table, to_frame
from ganopt.toy.tune import TuneConfig, tune_table

LOGGED = ("p1", "p2", "p_s", "moved")


def _parse(job: dict) -> tuple[str, ToyConfig]:
    optimizer = job.get("optimizer")
    if optimizer not in TOY_OPTIMIZERS:
        raise ConfigError(f"toy optimizer '{optimizer}' is not one of {', '.join(TOY_OPTIMIZERS)}")
    return optimizer, from_dict(ToyConfig, job.get("toy", {}), where="toy")


def toy_theorem_job(job: dict, out: Path) -> None:
    """job = {"optimizer": name, "toy": {ToyConfig keys, lr_g and lr_d lists included}, "tracking", "device"}."""
    from ganopt.jobs import job_run
    from ganopt.toy.simulate import simulate

    optimizer, cfg = _parse(job)
    limit_threads()
    device = select_device(job.get("device", "auto"))
    out = Path(out)
    with job_run(job, f"toy_theorem/{optimizer}", tags={"stage": "toy", "optimizer": optimizer}) as tracker:
        with timing.phase("simulate"):
            frame = pd.concat([to_frame(simulate(cfg, optimizer, d, range(cfg.n_seeds), device=device), optimizer,
                                        cfg.pair_fraction) for d in cfg.d], ignore_index=True)
            summary = summary_table(run_events(frame, cfg.collapse_min, cfg.strict_min), cfg.seed_share_min)
            write_csv(out / f"{optimizer}.csv", frame)
            plot_optimizer(frame, out / f"{optimizer}.png", f"toy theorem, {optimizer}")
        write_json(out / f"{optimizer}.json", {"optimizer": optimizer, "config": to_dict(cfg),
                                               "device": str(device), "run_key": tracker.run_id,
                                               "summary": summary.to_dict(orient="records"), **provenance()})
        first = frame[(frame["d"] == cfg.d[0]) & (frame["u_cos"] == cfg.u_cos[0])]
        for step, row in first.groupby("step")[list(LOGGED)].median().iterrows():
            tracker.log_metrics(row.to_dict(), step=int(step))
        for path in (out / f"{optimizer}.csv", out / f"{optimizer}.png", out / f"{optimizer}.json"):
            tracker.log_artifact(path)
    _print(summary)


def _print(summary: pd.DataFrame) -> None:
    columns = ["optimizer", *SETTING, "m", "steps", "n_seeds"] + [f"{e}_{k}" for e in EVENTS
                                                                   for k in ("seeds", "verdict")]
    with pd.option_context("display.width", 250, "display.precision", 3):
        print(summary[columns + ["min_p_median"]].to_string(index=False))


def toy_compare_job(job: dict, out: Path) -> None:
    """job = {"optimizers": [names], "collapse_min", "strict_min", "seed_share_min", "cone", "tracking",
    "device"}; reads <out>/<optimizer>.csv of each and writes the runs' events, the summary and figures."""
    from ganopt.jobs import job_run

    require_keys(job, "toy-compare job", optimizers=list[str], collapse_min=float, strict_min=float,
                 seed_share_min=float, cone=float)
    out = Path(out)
    missing = [o for o in job["optimizers"] if not (out / f"{o}.csv").exists()]
    if missing:
        raise GanoptError(f"toy results missing for {', '.join(missing)}: run rule toy_theorem first")
    with timing.phase("compare"):
        frame = pd.concat([read_csv(out / f"{o}.csv", (*RUN, "lr_g", "lr_d", "step", "m", "one_latent", "p1", "p2",
                                                       "p_s", "moved"),
                                    f"delete it and rerun the toy_theorem rule of {o}") for o in job["optimizers"]],
                          ignore_index=True)
    with job_run(job, "toy_compare", tags={"stage": "toy"}) as tracker:
        with timing.phase("compare"):
            events = run_events(frame, job["collapse_min"], job["strict_min"])
            summary = summary_table(events, job["seed_share_min"])
            write_csv(out / "seeds.csv", events)
            write_csv(out / "sweep.csv", summary)
            plot_compare(frame, out / "compare.png")
            plot_phase(summary, out / "phase.png", cone_degrees(float(summary["u_cos"].iloc[0]), job["cone"]))
        for name in ("seeds.csv", "sweep.csv", "compare.png", "phase.png"):
            tracker.log_artifact(out / name)
    _print(summary)


def toy_tune_job(job: dict, out: Path) -> None:
    """job = {"optimizer", "toy": {ToyConfig keys}, "tune": {seeds, grids}, "tracking", "device"}: every
    grid point of the optimizer at every d on the tuning seeds -> <out>/tune/<optimizer>.csv."""
    from ganopt.jobs import job_run

    optimizer, cfg = _parse(job)
    tune = from_dict(TuneConfig, job.get("tune", {}), where="toy.tune")
    limit_threads()
    device = select_device(job.get("device", "auto"))
    path = Path(out) / "tune" / f"{optimizer}.csv"
    with job_run(job, f"toy_tune/{optimizer}", tags={"stage": "toy", "optimizer": optimizer}) as tracker:
        with timing.phase("simulate"):
            table = tune_table(cfg, tune, optimizer, device)
            write_csv(path, table)
        tracker.log_artifact(path)
    chosen = table[table["chosen"]]
    with pd.option_context("display.width", 250, "display.precision", 4):
        print(table.to_string(index=False))
    print(f"toy.optimizers.{optimizer}: {{lr_g: {[round(x, 6) for x in chosen['lr_g']]}, "
          f"lr_d: {[round(x, 6) for x in chosen['lr_d']]}}}")

"""The study's GAN training work (tuning grid x tuning seeds, then the reported seeds, per dataset x
optimizer) three ways, on this machine in one run, one job at a time: one process per run (a
tune-lr job per grid point and tuning seed, a train-gan job per seed, each a batch of one), batched
(the workflow's jobs: one tune-lr and one train-gan job per dataset x optimizer), and a floor, a bare torch loop (torch.optim.Adam, bench/train_step.py) for every
run in this process. Prints wall and CPU time of each way, the ratios, the summed per-job
overhead (job wall time minus its loop time, and the same in CPU time, which a busy machine
distorts less; from the jobs' own timing records, ganopt.timing), the fixed cost per job (job time
less every work phase it reports: start-up, imports, tracking) and, with tracking on, the one sync
of the jobs' run journals into MLflow that the workflow does when it ends.

    python bench/study.py [--config config.yaml] [--steps N] [--datasets ...] [--optimizers ...]
                          [--tracking on|off] [--results results]

--steps shortens every run (default: the config's); --results also sums the timing records of
a finished study (results/benchmarks/**/*.json) by rule.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import bare_loop  # the bare loop of the train_step benchmark

from ganopt.config import load_config
from ganopt.data import load_prepared, prepare_dataset
from ganopt.gan.netconfig import NetConfig


def run_job(command: str, job: dict, out: Path, timing: Path) -> dict:
    """Run one `ganopt <command>` job in a fresh single-threaded process; return its timing record."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "ganopt.cli", command, "--config", json.dumps(job), "--out", str(out),
                           "--timing", str(timing)], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{command} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return json.loads(timing.read_text())


def study_jobs(config: dict, datasets: list[str], optimizers: list[str], steps: int | None, root: Path,
               tracking: dict) -> list[tuple[str, str, dict]]:
    """(dataset, optimizer, job parts) of every dataset x optimizer, as workflow/rules/common.smk builds them."""
    gan, out = config["gan"], []
    for dataset in datasets:
        section = gan["datasets"][dataset]
        train = dict(section["train"], **({"steps": steps} if steps else {}))
        for optimizer in optimizers:
            out.append((dataset, optimizer, {
                "dataset": dataset, "optimizer": optimizer, "data_dir": str(root / "data" / dataset), "train": train,
                "hparams": gan["hparams"].get(optimizer, {}), "tracking": tracking, "device": "cpu"}))
    return out


def one_way(batched: bool, jobs: list[tuple[str, str, dict]], config: dict, root: Path) -> list[dict]:
    """Tuning then training of every dataset x optimizer, as the workflow's batched jobs or one job per
    run; their timing records."""
    gan, records = config["gan"], []
    base = root / ("batched" if batched else "per-run")
    for dataset, optimizer, parts in jobs:
        steps = gan["datasets"][dataset]["optimizers"][optimizer]
        grid = steps["grid"] or [[steps["lr_g"], steps["lr_d"]]]
        tune_out = base / "tune" / dataset / optimizer
        tune = {**parts, "grid": grid, "seeds": gan["tune"]["seeds"], "eval_samples": gan["tune"]["eval_samples"]}
        batches = [(tune, tune_out)] if batched else [
            ({**tune, "grid": [point], "seeds": [seed]}, tune_out / f"{i}-{seed}")
            for i, point in enumerate(grid) for seed in gan["tune"]["seeds"]]
        for k, (job, out) in enumerate(batches):
            records.append(run_job("tune-lr", job, out, base / "timing" / f"tune-{dataset}-{optimizer}-{k}.json"))
        train = {**parts, "tune_best": str(batches[0][1] / "best.json")}  # the same work at any step size
        runs = base / "gan" / dataset / optimizer
        for seeds in [gan["seeds"]] if batched else [[seed] for seed in gan["seeds"]]:
            records.append(run_job("train-gan", {**train, "seeds": seeds}, runs,
                                   base / "timing" / f"train-{dataset}-{optimizer}-{seeds[0]}.json"))
    return records


def floor(jobs: list[tuple[str, str, dict]], config: dict, root: Path) -> float:
    """Seconds of a bare torch loop doing every run's steps (tuning runs included), in this process."""
    gan, total = config["gan"], 0.0
    torch.set_num_threads(1)
    for dataset, optimizer, parts in jobs:
        train = parts["train"]
        n_grid = len(gan["datasets"][dataset]["optimizers"][optimizer]["grid"] or [None])
        runs = n_grid * len(gan["tune"]["seeds"]) + len(gan["seeds"])
        data, net = load_prepared(root / "data" / dataset).train, NetConfig(**train["net"])
        bare_loop(data, net, train["batch_size"], 5, torch.device("cpu"), foreach=True)  # first-call imports
        per_step = bare_loop(data, net, train["batch_size"], train["steps"], torch.device("cpu"), foreach=True)
        total += per_step * train["steps"] * runs
    return total


HEADER = (f"{'':<22}{'jobs':>6}{'wall s':>10}{'loop s':>10}{'overhead':>10}{'cpu s':>10}{'loop cpu':>10}"
          f"{'cpu overhead':>14}{'fixed/job':>11}{'cpu fixed/job':>15}")
# overhead = job time - loop time (everything but training); fixed = job time - every phase the job
# reports (loop, outputs, eval, ...): start-up, imports and tracking, per job


def summary(name: str, records: list[dict]) -> dict:
    """One line: wall and CPU time of the jobs, their loops', the rest (the per-job overhead) and the
    fixed cost per job (job time less all of its reported work phases)."""
    wall = sum(r["wall_s"] for r in records)
    loop = sum(r["phases"].get("loop", 0.0) for r in records)
    work = sum(sum(r["phases"].values()) for r in records)
    cpu = sum(r["cpu_user_s"] + r["cpu_sys_s"] for r in records)
    loop_cpu = sum(r.get("phases_cpu", {}).get("loop", 0.0) for r in records)
    work_cpu = sum(sum(r.get("phases_cpu", {}).values()) for r in records)
    n = max(len(records), 1)
    print(f"{name:<22}{len(records):>6}{wall:>10.1f}{loop:>10.1f}{100 * (wall - loop) / wall:>9.0f}%"
          f"{cpu:>10.1f}{loop_cpu:>10.1f}{100 * (cpu - loop_cpu) / cpu:>13.0f}%"
          f"{(wall - work) / n:>11.2f}{(cpu - work_cpu) / n:>15.2f}", flush=True)
    return {"wall": wall, "cpu": cpu, "loop": loop, "loop_cpu": loop_cpu}


def sync(tracking: dict) -> dict:
    """Write the jobs' run journals into the MLflow store in one fresh process, as the workflow
    does when it ends; its time counts as the tracking cost the jobs no longer pay."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ganopt.cli", "sync-tracking", "--config", json.dumps({"tracking": tracking})],
                   check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    wall = time.perf_counter() - start
    print(f"{'  + sync to MLflow':<22}{1:>6}{wall:>10.1f}{'':>10}{'':>10}{cpu:>10.1f}", flush=True)
    return {"wall": wall, "cpu": cpu}


def with_sync(way: dict, synced: dict) -> dict:
    return way | {"wall": way["wall"] + synced["wall"], "cpu": way["cpu"] + synced["cpu"]}


def study_records(results: Path) -> None:
    """Sum a finished study's timing records by rule (results/benchmarks/<rule>/**/*.json)."""
    by_rule: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((results / "benchmarks").rglob("*.json")):
        by_rule[path.relative_to(results / "benchmarks").parts[0]].append(json.loads(path.read_text()))
    print(f"\ntiming records of {results}:")
    print(HEADER)
    every = []
    for rule, records in sorted(by_rule.items()):
        summary(rule, records)
        every += records
    if every:
        summary("all", every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--steps", type=int, help="steps per run (default: the config's)")
    parser.add_argument("--datasets", nargs="*")
    parser.add_argument("--optimizers", nargs="*")
    parser.add_argument("--tracking", choices=("on", "off"), default="on",
                        help="MLflow tracking of the jobs, into a temporary sqlite store (the study tracks)")
    parser.add_argument("--results", type=Path, help="also sum this finished study's timing records")
    args = parser.parse_args()
    config = load_config(args.config)
    datasets = args.datasets or list(config["gan"]["datasets"])
    optimizers = args.optimizers or config["gan"]["optimizers"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tracking = {"enabled": args.tracking == "on", "uri": f"sqlite:///{root}/mlflow.db",
                    "artifact_location": str(root / "mlartifacts"), "experiment": "bench-study",
                    "journal": str(root / "tracking"), "sync": "study"}
        for dataset in datasets:
            prepare_dataset(dataset, config["data"][dataset] or {}, root / "data" / dataset)
        jobs = study_jobs(config, datasets, optimizers, args.steps, root, tracking)
        runs = sum(len(config["gan"]["datasets"][d]["optimizers"][o]["grid"] or [None]) * len(config["gan"]["tune"]["seeds"])
                   + len(config["gan"]["seeds"]) for d, o, _ in jobs)
        steps = sum(p["train"]["steps"] for _, _, p in jobs) // len(jobs)
        print(f"{len(datasets)} datasets x {len(optimizers)} optimizers: {runs} runs of {steps} steps, tracking "
              f"{args.tracking}, one job at a time, 1 thread, load average {os.getloadavg()[0]:.1f} at start")
        print(HEADER)
        start = time.perf_counter()
        per_run = summary("one process per run", one_way(False, jobs, config, root))
        if args.tracking == "on":
            per_run = with_sync(per_run, sync(tracking))
        batched = summary("batched", one_way(True, jobs, config, root))
        if args.tracking == "on":
            batched = with_sync(batched, sync(tracking))
        bare = floor(jobs, config, root)
        print(f"{'bare torch loop':<22}{'-':>6}{bare:>10.1f}{bare:>10.1f}")
        print(f"\nper run / batched: wall {per_run['wall'] / batched['wall']:.2f}x, "
              f"cpu {per_run['cpu'] / batched['cpu']:.2f}x, loop {per_run['loop'] / batched['loop']:.2f}x")
        print(f"batched / bare loop: wall {batched['wall'] / bare:.2f}x, loop {batched['loop'] / bare:.2f}x; "
              f"per run / bare loop: wall {per_run['wall'] / bare:.2f}x")
        print(f"GAN steps per wall second: per run {runs * steps / per_run['wall']:.0f}, "
              f"batched {runs * steps / batched['wall']:.0f}, bare loop {runs * steps / bare:.0f}; "
              f"bench took {time.perf_counter() - start:.0f}s, load average {os.getloadavg()[0]:.1f} at the end")
    if args.results:
        study_records(args.results)


if __name__ == "__main__":
    main()

"""A whole workflow run, timed: wall time, the CPU of everything it started, and the CPU of the
Snakemake processes themselves (scheduler, DAG, hooks: not their jobs), sampled every 0.2 s.

    python bench/workflow.py [-- COMMAND ...]     (default: make run, in the current folder)

Prints the Snakemake share of the run's CPU (issue 12's goal: at most 5%) and, when the run left
results/benchmarks/, the jobs' own CPU from their timing records."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil


def is_snakemake(proc: psutil.Process) -> bool:
    """A Snakemake process (the main one, or its `--report` run), not a job it started."""
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return any(Path(part).name == "snakemake" for part in cmd[:2])


def main() -> None:
    command = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else ["make", "run"]
    print(f"running {' '.join(command)} in {os.getcwd()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    own: dict[int, float] = {}  # snakemake pid -> its last seen CPU seconds (self only, not children)
    start = time.perf_counter()
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            for proc in root.children(recursive=True):
                if is_snakemake(proc):
                    times = proc.cpu_times()
                    own[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    snakemake = sum(own.values())
    print(f"\nexit {child.returncode}; wall {wall / 60:.0f} min {wall % 60:.0f} s; CPU of everything it ran "
          f"{total:.0f} s ({total / wall:.2f} cores); Snakemake's own CPU {snakemake:.0f} s "
          f"({100 * snakemake / total:.1f}% of the run's CPU, {len(own)} Snakemake processes)")
    records = list(Path("results/benchmarks").rglob("*.json"))
    if records:
        jobs = [json.loads(p.read_text()) for p in records]
        cpu = sum(r["cpu_user_s"] + r["cpu_sys_s"] for r in jobs)
        print(f"jobs' own CPU from {len(jobs)} timing records: {cpu:.0f} s ({100 * cpu / total:.1f}%); "
              f"the rest ({total - cpu - snakemake:.0f} s) is set-up (make, pip), shells and untimed jobs")
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()

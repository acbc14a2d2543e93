"""End a job whose Snakemake is gone: a Snakemake killed with SIGKILL leaves its jobs running
orphaned, and the rerun that recovers the workflow would then race them for the same files.

The workflow exports GANOPT_WORKFLOW_PID (the Snakemake process that runs the job's shell) in
every job's shell; `watch()` checks in a daemon thread that the process chain from this job up to
that Snakemake is intact, and otherwise stops the job with SIGTERM (resume state stays on disk)."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time

ENV = "GANOPT_WORKFLOW_PID"
MAX_DEPTH = 6  # job -> (shell) -> ... -> Snakemake; a longer chain means the variable leaked


def parent_of(pid: int) -> int | None:
    """The parent pid from /proc (None when the process is gone or /proc is unavailable)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces


def chain_to(ancestor: int, pid: int | None = None) -> list[int] | None:
    """Pids from `pid` (default: this process) up to `ancestor`, or None if it is not an ancestor."""
    chain = [os.getpid() if pid is None else pid]
    while len(chain) <= MAX_DEPTH:
        parent = parent_of(chain[-1])
        if parent is None or parent <= 1:
            return None
        chain.append(parent)
        if parent == ancestor:
            return chain
    return None


def _watch(chain: list[int], interval: float, grace: float) -> None:
    while chain_to(chain[-1]) == chain:
        time.sleep(interval)
    print(f"ganopt: the Snakemake process that started this job (pid {chain[-1]}) is gone; stopping "
          "(resume state is kept: rerun the workflow to continue)", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    print(f"ganopt: the job did not stop within {grace:g} s of SIGTERM; killing it. It was at:", file=sys.stderr)
    faulthandler.dump_traceback(sys.stderr, all_threads=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _unwind(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def watch(interval: float = 1.0, grace: float = 10.0) -> bool:
    """Start watching when this process runs under the Snakemake named by GANOPT_WORKFLOW_PID."""
    value = os.environ.get(ENV, "")
    chain = chain_to(int(value)) if value.isdigit() else None
    if chain is None:  # run by hand, or the variable leaked to a process Snakemake did not start
        return False
    # SIGTERM (from the watcher, or scancel) unwinds the job: its MLflow run closes as FAILED and
    # atomic writers delete their temp files. (Not SIGINT: background shells start jobs ignoring it.)
    signal.signal(signal.SIGTERM, _unwind)
    threading.Thread(target=_watch, args=(chain, interval, grace), name="ganopt-lifeline", daemon=True).start()
    return True

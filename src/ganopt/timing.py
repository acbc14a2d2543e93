"""A job's own timing record, written by the CLI with `--timing PATH` (what the workflow keeps
instead of Snakemake's `benchmark:` polling, which costs the Snakemake process CPU per job):
the process's wall time since it started, its CPU time and peak memory, and named phases of the
job's own work (e.g. its training loop; phases do not overlap), so its fixed cost (start-up,
imports, tracking) = wall time - the phases' sum."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ganopt import io

PHASES: dict[str, float] = {}      # wall seconds per phase name, summed over the process
PHASES_CPU: dict[str, float] = {}  # CPU seconds of this process per phase name (robust on a busy machine)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the wall and CPU time of the block to phase `name`."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        PHASES[name] = PHASES.get(name, 0.0) + time.perf_counter() - start
        PHASES_CPU[name] = PHASES_CPU.get(name, 0.0) + time.process_time() - cpu


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere), interpreter start-up included."""
    try:
        with open("/proc/self/stat") as handle:
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def record(command: str) -> dict:
    """The timing record of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {"command": command, "wall_s": process_age(), "cpu_user_s": usage.ru_utime, "cpu_sys_s": usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss * rss_unit / 2**20, "phases": dict(PHASES),
            "phases_cpu": dict(PHASES_CPU)}


def write(path: str | os.PathLike, command: str) -> None:
    """Write this process's timing record as JSON (atomically)."""
    io.write_json(Path(path), record(command))

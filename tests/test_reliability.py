"""Reliability: a job orphaned by a killed Snakemake stops; a killed workflow recovers with one
command and resumes to the numbers of an uninterrupted run; a corrupt checkpoint means a fresh
start; a diverging run is recorded while the rest completes; nothing is left half-written."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganopt import lifeline

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def running(pid: int) -> bool:
    """True while pid is a live process (a zombie awaiting its reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def spawn_fake_workflow(tmp_path: Path, body: str) -> tuple[subprocess.Popen, int]:
    """A stand-in Snakemake (a Python process) running a job shell as the workflow does; returns it and the job pid."""
    pidfile = tmp_path / "job.pid"
    job = (f"import os, time; from ganopt import lifeline; {body}; "
           f"open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    shell = f"set -euo pipefail; export {lifeline.ENV}=$PPID; {shlex.quote(sys.executable)} -c {shlex.quote(job)}"
    workflow = subprocess.Popen([sys.executable, "-c", f"import subprocess, time; subprocess.Popen(['bash', '-c', "
                                 f"{shell!r}]); time.sleep(60)"], env=ENV)
    wait_for(lambda: pidfile.exists() and pidfile.read_text(), 30, "the job to start")
    return workflow, int(pidfile.read_text())


def test_job_stops_when_its_snakemake_is_killed(tmp_path):
    workflow, job = spawn_fake_workflow(tmp_path, "assert lifeline.watch(interval=0.1)")
    try:
        assert running(job)
        os.kill(workflow.pid, signal.SIGKILL)
        workflow.wait()
        wait_for(lambda: not running(job), 10, "the orphaned job to stop")
    finally:
        if running(job):
            os.kill(job, signal.SIGKILL)


def test_job_keeps_running_while_its_snakemake_lives(tmp_path):
    workflow, job = spawn_fake_workflow(tmp_path, "assert lifeline.watch(interval=0.1)")
    try:
        time.sleep(1.0)
        assert running(job)
    finally:
        os.kill(job, signal.SIGKILL)
        os.kill(workflow.pid, signal.SIGKILL)
        workflow.wait()


def test_watch_is_off_outside_a_workflow(monkeypatch):
    monkeypatch.delenv(lifeline.ENV, raising=False)
    assert lifeline.watch() is False
    monkeypatch.setenv(lifeline.ENV, "1")  # pid 1 is no job's Snakemake
    assert lifeline.watch() is False

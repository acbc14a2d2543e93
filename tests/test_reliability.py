"""Reliability: a job orphaned by a killed Snakemake stops; a killed workflow recovers with one
command and resumes to the numbers of an uninterrupted run; a corrupt checkpoint means a fresh
start; a diverging run is recorded while the rest completes; nothing is left half-written."""

from __future__ import annotations

import ast
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

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


# --- the workflow: kill -9, recovery, corrupt state, divergence --------------------------------

RUN = "results/gan/ring8/adam/seed0"
RESUME = "results/state/gan/ring8/adam/seed0/resume.pt"
# One small run on CPU: long enough to be killed midway, checkpointed often.
STUDY = {
    "study": "reliability",
    "device": "cpu",
    "tracking": {"enabled": True, "uri": "sqlite:///results/mlflow.db",
                 "artifact_location": "results/mlartifacts", "experiment": "ganopt-reliability"},
    "data": {"ring8": {"n_train": 2000, "n_test": 500}},
    "gan": {
        "optimizers": ["adam"],
        "seeds": [0],
        "tune": {"activate": False},
        "datasets": {"ring8": {
            "train": {"steps": 3000, "batch_size": 32, "metrics_every": 10, "norms_every": 50,
                      "log_every": 500, "checkpoint_every": 100, "snapshot_every": 1000,
                      "net": {"arch": "mlp", "z_dim": 2, "width": 16, "depth": 1}},
            "optimizers": {"adam": {"lr_g": 0.001, "lr_d": 0.001}}}},
    },
    "fid": {"modes": {"n_samples": 500}},
}
# Columns and keys that measure the run (wall time, MLflow ids, where it resumed), not its result.
VOLATILE_COLUMNS = ("time/sec_per_step",)


def study_args(work: Path, config: dict, *targets: str) -> list[str]:
    """Snakemake arguments for `config` in `work`, building `targets` (default: the run's status.json)."""
    path = work / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(path), "--cores", "1",
            *(targets or [f"{RUN}/status.json"])]


def snakemake(work: Path, args: list[str], *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args, *extra], cwd=work, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def recover(work: Path, args: list[str]) -> subprocess.CompletedProcess:
    """The documented recovery: `snakemake --unlock && snakemake` with the same arguments."""
    unlock = snakemake(work, args, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    return snakemake(work, args)


def jobs_of(work: Path, command: str) -> list[int]:
    """Pids of live `ganopt <command>` processes working in `work`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd == str(work) and command.encode() in cmdline and running(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def resume_step(work: Path) -> int:
    """Step of the run's resume checkpoint (-1 while there is none)."""
    path = work / RESUME
    try:
        return torch.load(path, weights_only=True)["session"]["step"]
    except (FileNotFoundError, RuntimeError, EOFError):
        return -1


def read_metrics(work: Path) -> pd.DataFrame:
    return pd.read_csv(work / RUN / "metrics.csv").drop(columns=list(VOLATILE_COLUMNS))


def assert_same_run(work: Path, reference: Path) -> None:
    """Same numbers as the uninterrupted run: metrics, per-tensor norms and final weights."""
    pd.testing.assert_frame_equal(read_metrics(work), read_metrics(reference), check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(work / RUN / "norms.csv"), pd.read_csv(reference / RUN / "norms.csv"),
                                  check_exact=True)
    mine, ref = (torch.load(w / RUN / "checkpoint.pt", weights_only=True) for w in (work, reference))
    for player in ("G", "D"):
        for name, tensor in ref[player].items():
            assert torch.equal(mine[player][name], tensor), f"{player}.{name} differs from the uninterrupted run"


def assert_outputs_whole(results: Path) -> None:
    """Every output present is complete: JSON parses, CSVs read, torch files load (weights_only)."""
    for path in results.rglob("*"):
        if path.name.endswith(".tmp") or not path.is_file():
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            pd.read_csv(path)
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The study run once without interruption."""
    work = tmp_path_factory.mktemp("uninterrupted")
    proc = snakemake(work, study_args(work, STUDY))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


@pytest.mark.slow
def test_killed_twice_recovers_to_the_uninterrupted_numbers(tmp_path, reference_run):
    args = study_args(tmp_path, STUDY)
    # 1. kill -9 the training process midway: Snakemake records the failure and stops
    workflow = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=tmp_path, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: resume_step(tmp_path) >= 100, 300, "a resume checkpoint past step 100")
        for pid in jobs_of(tmp_path, "train-gan"):
            os.kill(pid, signal.SIGKILL)
        assert workflow.wait(timeout=120) != 0
        # 2. rerun; once it checkpointed further, kill -9 Snakemake itself (a lost session)
        first = resume_step(tmp_path)
        assert 0 < first < STUDY["gan"]["datasets"]["ring8"]["train"]["steps"]
        workflow = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=tmp_path, env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: resume_step(tmp_path) > first, 300, "the rerun to checkpoint past the first kill")
        assert jobs_of(tmp_path, "train-gan"), "the rerun's training job is not running"
        os.kill(workflow.pid, signal.SIGKILL)
        workflow.wait()
        # its training job does not keep running orphaned
        wait_for(lambda: not jobs_of(tmp_path, "train-gan"), 30, "the orphaned training job to stop")
    finally:
        if workflow.poll() is None:
            workflow.kill()
        for pid in jobs_of(tmp_path, "train-gan"):
            os.kill(pid, signal.SIGKILL)
    second = resume_step(tmp_path)
    assert second > first
    assert_outputs_whole(tmp_path / "results")
    # 3. the one recovery command finishes the study, resuming where the run stopped
    proc = recover(tmp_path, args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = (tmp_path / "results/logs/train_gan/ring8/adam.log").read_text()
    assert f"at step {second}" in log, log[-2000:]
    assert json.loads((tmp_path / RUN / "status.json").read_text())["status"] == "ok"
    assert_same_run(tmp_path, reference_run)
    assert not (tmp_path / RESUME).exists()


@pytest.mark.slow
def test_corrupt_resume_checkpoint_starts_fresh(tmp_path, reference_run):
    args = study_args(tmp_path, STUDY)
    (tmp_path / RESUME).parent.mkdir(parents=True)
    (tmp_path / RESUME).write_bytes(b"PK\x03\x04 not a checkpoint")
    proc = snakemake(tmp_path, args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = (tmp_path / "results/logs/train_gan/ring8/adam.log").read_text()
    assert "unreadable" in log and "starting fresh" in log, log[:2000]
    assert_same_run(tmp_path, reference_run)


@pytest.mark.slow
def test_diverging_run_is_recorded_and_the_study_completes(tmp_path):
    study = json.loads(json.dumps(STUDY))
    gan = study["gan"]
    gan["optimizers"] = ["adam", "sgda"]
    gan["datasets"]["ring8"]["train"].update(steps=60, max_loss=5.0)
    gan["datasets"]["ring8"]["optimizers"]["sgda"] = {"lr_g": 1.0e4, "lr_d": 1.0e4}  # blows up at once
    fids = [f"results/gan/ring8/{opt}/seed0/fid.json" for opt in gan["optimizers"]]  # downstream of training
    proc = snakemake(tmp_path, study_args(tmp_path, study, *fids))
    assert proc.returncode == 0, proc.stderr[-4000:]
    status = {opt: json.loads((tmp_path / f"results/gan/ring8/{opt}/seed0/status.json").read_text())
              for opt in gan["optimizers"]}
    assert status["adam"]["status"] == "ok"
    assert status["sgda"]["status"] == "diverged" and status["sgda"]["reason"]
    for fid in fids:  # the diverged run's downstream job ran too
        assert (tmp_path / fid).exists()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/results/mlflow.db")
    exp = client.get_experiment_by_name("ganopt-reliability")
    runs = {r.info.run_name: r.info.status for r in client.search_runs([exp.experiment_id])}
    assert runs.get("train_gan/ring8/sgda/seed0") == "FAILED", runs
    assert runs.get("train_gan/ring8/adam/seed0") == "FINISHED", runs


def test_checkpoints_are_loaded_with_weights_only():
    """Every torch.load in the package passes weights_only=True (no pickle code execution)."""
    calls = []
    for path in (REPO / "src" / "ganopt").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                calls.append((f"{path.relative_to(REPO)}:{node.lineno}", safe))
    assert calls, "no torch.load found"
    unsafe = [where for where, safe in calls if not safe]
    assert not unsafe, f"torch.load without weights_only=True at {unsafe}"

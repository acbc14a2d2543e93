"""Scale-out: profiles/slurm on a real single-node SLURM cluster gives the same outputs as a local run;
MLflow artifact URIs served by a tracking server are kept as URIs."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from slurm_cluster import LocalSlurm, unavailable_reason

from ganopt.optim import OPTIMIZERS

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
# Outputs that describe a run rather than its result: logs, timings, the MLflow store and its journals.
VOLATILE_DIRS = ("logs", "benchmarks", "mlartifacts", "tracking")
VOLATILE_FILES = re.compile(r"^mlflow\.db.*$")
# JSON keys and CSV columns that differ between two runs of the same job (where/when it ran,
# MLflow ids); keys in the `time/` namespace are timings.
VOLATILE_KEYS = frozenset({"host", "git_commit", "started", "finished", "wall_s", "duration_s",
                           "elapsed_s", "run_id", "run_key", "timestamp", "time", "date"})
# One job of each rule of a run: the chain behind one run's fid.json (the whole smoke DAG through SLURM
# costs minutes: each job starts Snakemake twice, via sbatch and srun, before its own command).
SLICE = ("digits", "adam")
SLICE_TARGET = "results/gan/digits/adam/seed0/fid.json"


def rules_in_workflow() -> set[str]:
    text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    return set(re.findall(r"^rule (\w+):", text, flags=re.M))


def local_profile(profile: dict) -> dict:
    """profiles/slurm adapted to the test cluster: no accounting DB, no GPU, one small node.

    Rules keep their own thread counts (as in the local run, so the numbers can match exactly)."""
    out = copy.deepcopy(profile)
    out.update({
        "slurm-no-account": True,                       # no accounting DB, so no accounts
        "slurm-status-command": "squeue",               # ... and no sacct
        "slurm-init-seconds-before-status-checks": 1,   # the default 40 s per check is for big clusters
        "latency-wait": 5,
        "retries": 0,                                   # a failing job must fail the test
        "keep-going": False,
    })
    for resources in out.get("set-resources", {}).values():
        resources.pop("slurm_partition", None)
        if "gpu" in resources:
            resources["gpu"] = 0                        # the test node has no GPU
        resources["mem_mb"] = min(resources.get("mem_mb", 1000), 1000)
    out["default-resources"]["mem_mb"] = 1000
    out.pop("set-threads", None)
    return out


def snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: float = 600) -> None:
    """The smoke study with results under workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config" / "smoke.yaml"), *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"


def result_files(results: Path) -> set[str]:
    out = set()
    for path in results.rglob("*"):
        rel = path.relative_to(results)
        if path.is_file() and rel.parts[0] not in VOLATILE_DIRS and not VOLATILE_FILES.match(rel.name) \
                and rel.name != "README.md":
            out.add(rel.as_posix())
    return out


def volatile(key: str) -> bool:
    return key in VOLATILE_KEYS or key.startswith("time/")


def in_slice(rel: str) -> bool:
    """Whether an output (or its log/benchmark) belongs to SLICE's dataset and optimizer."""
    parts = set(rel.removesuffix(Path(rel).suffix).split("/"))
    dataset, optimizer = SLICE
    return dataset in parts and not (set(OPTIMIZERS) - {optimizer}) & parts


def strip_volatile(value):
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if not volatile(k)}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def assert_same_tree(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where}: tensors differ"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        for key in a:
            assert_same_tree(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_output(a: Path, b: Path, rel: str) -> None:
    """Equal bytes, or equal content where a format embeds run-specific details."""
    if a.read_bytes() == b.read_bytes():
        return
    suffix = a.suffix
    if suffix == ".json":
        assert_same_tree(strip_volatile(json.loads(a.read_text())), strip_volatile(json.loads(b.read_text())), rel)
    elif suffix == ".csv":
        frames = [frame.drop(columns=[c for c in frame.columns if volatile(c)]) for frame in map(pd.read_csv, (a, b))]
        pd.testing.assert_frame_equal(*frames, check_exact=True, obj=rel)
    elif suffix == ".pt":
        assert_same_tree(torch.load(a, weights_only=True), torch.load(b, weights_only=True), rel)
    elif suffix == ".npz":
        with np.load(a) as x, np.load(b) as y:
            assert sorted(x.files) == sorted(y.files), f"{rel}: arrays differ"
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{rel}/{key}")
    else:
        pytest.fail(f"{rel} differs between the local and the SLURM run")


def test_profile_names_existing_rules():
    """A renamed rule would silently lose its GPU and limits on the cluster."""
    profile = yaml.safe_load(PROFILE.read_text())
    named = set(profile.get("set-resources", {})) | set(profile.get("set-threads", {}))
    assert named <= rules_in_workflow(), f"profiles/slurm names unknown rules: {named - rules_in_workflow()}"


def test_profile_dry_run(tmp_path):
    """Every key of profiles/slurm is an option Snakemake and the SLURM plugin accept."""
    snakemake(tmp_path, "-n", "--workflow-profile", str(PROFILE.parent), timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_smoke_study_on_local_slurm_equals_local_run(tmp_path, smoke_study):
    remote = tmp_path / "slurm"
    with LocalSlurm() as cluster:
        (tmp_path / "slurm-local").mkdir()
        (tmp_path / "slurm-local" / "config.yaml").write_text(
            yaml.safe_dump(local_profile(yaml.safe_load(PROFILE.read_text()))))
        snakemake(remote, "--workflow-profile", str(tmp_path / "slurm-local"), SLICE_TARGET, env=cluster.env,
                  timeout=1200)
        jobs = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%T|%k"],
                              capture_output=True, text=True, env=cluster.env, check=True).stdout.split()
    ran = [line.split("|") for line in jobs]
    assert ran and all(state == "COMPLETED" for state, _ in ran), f"SLURM jobs: {ran}"
    local = smoke_study / "results"
    expected = {rel for rel in result_files(local) if in_slice(rel)}
    assert SLICE_TARGET.removeprefix("results/") in expected, f"the smoke study has no {SLICE_TARGET}"
    assert result_files(remote / "results") == expected
    for rel in sorted(expected):
        assert_same_output(local / rel, remote / "results" / rel, rel)
    # every job went through sbatch: one COMPLETED SLURM job per local job of the slice, each rule once
    benchmarks = [p.relative_to(local).as_posix() for p in (local / "benchmarks").rglob("*.json")]
    sliced = sorted(b for b in benchmarks if in_slice(b))
    assert len(ran) == len(sliced), f"{len(ran)} SLURM jobs for the local jobs {sliced}"
    profiled = set(yaml.safe_load(PROFILE.read_text())["set-resources"])
    assert profiled <= {b.split("/")[1] for b in sliced}, "a rule with cluster resources did not run"


@pytest.mark.parametrize("location", ["mlflow-artifacts:/ganopt-paper", "s3://bucket/ganopt"])
def test_artifact_uri_is_kept(tmp_path, location):
    """For many machines: a URI artifact location (served by `mlflow server`) is not taken for a folder."""
    from mlflow.tracking import MlflowClient

    from ganopt.mlflow_sync import ensure_experiment
    from ganopt.tracking import TrackingConfig

    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=location, experiment="x")
    exp_id = ensure_experiment(cfg)
    assert MlflowClient(tracking_uri=cfg.uri).get_experiment(exp_id).artifact_location == location

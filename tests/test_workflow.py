"""The workflow: lint, dry runs of every shipped config, and the whole DAG on config/smoke.yaml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args: str, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_lint_is_clean(tmp_path: Path) -> None:
    proc = snakemake("--lint", "--directory", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


@pytest.mark.parametrize("config", ["config.yaml", *sorted(p.name and f"config/{p.name}"
                                                           for p in (REPO / "config").glob("*.yaml"))])
def test_dry_run_lists_jobs(tmp_path: Path, config: str) -> None:
    proc = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Job stats:" in proc.stdout and "prepare_data" in proc.stdout


def test_broken_config_stops_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  ring8: {n_trian: 5}\n")
    proc = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(bad))
    assert proc.returncode != 0
    assert "ganopt: invalid config: config key 'data.ring8': unknown key(s) 'n_trian'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_whole_dag_on_smoke_config(tmp_path: Path) -> None:
    """Every rule of the study runs on tiny budgets; outputs exist and each job is one MLflow run."""
    proc = snakemake("--cores", "2", "--directory", str(tmp_path), "--configfile",
                     str(REPO / "config" / "smoke.yaml"))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    results = tmp_path / "results"
    logs = sorted(p for p in (results / "logs").rglob("*.log"))
    assert logs, "no job logs"
    # rule all's inputs are all there (a second dry run has nothing to do)
    again = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config" / "smoke.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{results}/mlflow.db")
    exp = client.get_experiment_by_name("ganopt-smoke")
    runs = client.search_runs([exp.experiment_id], max_results=10000)
    jobs_per_rule = {p.parent.name: 0 for p in logs}
    for p in logs:
        jobs_per_rule[p.relative_to(results / "logs").parts[0]] += 1
    assert len(runs) >= len(logs), (len(runs), jobs_per_rule)
    assert all(r.info.status in ("FINISHED", "FAILED") for r in runs)
    assert not list(results.rglob(".*.tmp")), "half-written temp files left behind"
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)

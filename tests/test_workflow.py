"""The workflow: lint, dry runs of every shipped config, and the whole DAG on config/smoke.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Snakemake's CLI in this interpreter, then which heavy libraries parsing the workflow imported: the
# rule files read config-only, torch-free modules, so `snakemake -n` stays fast.
HEAVY = ("torch", "mlflow", "matplotlib", "torchvision", "cleanfid", "scipy")
PARSE_PROBE = f"""
import sys
from snakemake.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("heavy modules imported:", sorted(m for m in {HEAVY!r} if m in sys.modules))
sys.exit(code)
"""


def snakemake(*args: str, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_lint_is_clean(tmp_path: Path) -> None:
    proc = snakemake("--lint", "--directory", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


@pytest.mark.parametrize("config", ["config.yaml", *sorted(p.name and f"config/{p.name}"
                                                           for p in (REPO / "config").glob("*.yaml"))])
def test_dry_run_lists_jobs_without_importing_torch(tmp_path: Path, config: str) -> None:
    proc = subprocess.run([sys.executable, "-c", PARSE_PROBE, "-s", str(REPO / "Snakefile"), "-n", "--directory",
                           str(tmp_path), "--configfile", str(REPO / config)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Job stats:" in proc.stdout and "prepare_data" in proc.stdout
    assert "heavy modules imported: []" in proc.stdout, proc.stdout[-500:]
    table = proc.stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rules = set(re.findall(r"^(\w+)\s+\d+$", table, flags=re.M))
    # one training path: the seeds of a (dataset, optimizer) train in one train_gan job, and are scored in
    # one compute_fid job, whatever the architecture
    assert {r for r in rules if r.startswith(("train", "compute"))} == {"train_gan", "compute_fid"}, rules


def test_no_rule_order_is_needed() -> None:
    """No two rules make the same file (Snakemake's ruleorder would pick one)."""
    for path in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
        assert "ruleorder" not in path.read_text(), path


def test_broken_config_stops_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  ring8: {n_trian: 5}\n")
    proc = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(bad))
    assert proc.returncode != 0
    assert "ganopt: invalid config: config key 'data.ring8': unknown key(s) 'n_trian'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_whole_dag_on_smoke_config(smoke_study: Path) -> None:
    """Every rule of the study ran on tiny budgets; outputs exist and each job is one MLflow run."""
    results = smoke_study / "results"
    logs = sorted(results.joinpath("logs").rglob("*.log"))
    assert logs, "no job logs"
    again = snakemake("-n", "--directory", str(smoke_study), "--configfile", str(REPO / "config" / "smoke.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr, "rule all's inputs are not all there"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{results}/mlflow.db")
    exp = client.get_experiment_by_name("ganopt-smoke")
    runs = client.search_runs([exp.experiment_id], max_results=10000)
    names = sorted(r.info.run_name for r in runs)
    jobs = sorted(str(p.relative_to(results / "logs").with_suffix("")) for p in logs)
    assert len(runs) >= len(jobs), (names, jobs)
    assert all(r.info.status in ("FINISHED", "FAILED") for r in runs)
    assert not list(results.rglob(".*.tmp")), "half-written temp files left behind"


def test_config_overrides_reach_the_workflow_typed(tmp_path: Path) -> None:
    """`--config section={key: value}` is read by ganopt's reader: numbers stay numbers (Snakemake
    alone would pass the strings '7' and '30'), and the plan uses them."""
    proc = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config" / "smoke.yaml"),
                     "--config", "gan={seeds: [7]}", "toy={n_seeds: 30}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "seed7" in proc.stdout and "seed0" not in proc.stdout

"""The MLflow UI over the study's store: its REST API lists the study's runs, and (where Chromium is
installed) the experiment's runs page renders something other than a blank page."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import assert_not_blank, chromium, needs_chromium


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_ui(smoke_study: Path) -> Iterator[str]:
    """`mlflow ui` on 127.0.0.1 and a free port, serving the smoke study's store; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                             f"sqlite:///{smoke_study}/results/mlflow.db", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", "1"], cwd=smoke_study, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(1)
        else:
            pytest.fail("mlflow ui did not answer within 180 s")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def smoke_experiment_id(url: str) -> str:
    found = post(f"{url}/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
    return next(e["experiment_id"] for e in found if e["name"] == "ganopt-smoke")


def test_rest_api_lists_the_study_runs(mlflow_ui: str, smoke_study: Path) -> None:
    runs = post(f"{mlflow_ui}/api/2.0/mlflow/runs/search",
                {"experiment_ids": [smoke_experiment_id(mlflow_ui)], "max_results": 1000})["runs"]
    names = {r["info"]["run_name"] for r in runs}
    logs = {str(p.relative_to(smoke_study / "results" / "logs").with_suffix(""))
            for p in (smoke_study / "results" / "logs").rglob("*.log")}
    assert {"prepare_data/ring8", "prepare_data/digits"} <= names
    assert len(runs) >= len(logs)


@needs_chromium
def test_runs_page_is_not_blank(mlflow_ui: str, tmp_path: Path) -> None:
    shot = tmp_path / "runs.png"
    chromium(f"{mlflow_ui}/#/experiments/{smoke_experiment_id(mlflow_ui)}/runs", tmp_path / "profile",
             f"--screenshot={shot}")
    assert_not_blank(shot)

"""The study's parent MLflow run: every job's run nested under it, the report's tables and figures
as its artifacts, so the UI shows the study as one tree."""

from __future__ import annotations

from pathlib import Path

from ganopt.mlflow_sync import client, ensure_experiment, retry, store_errors, sync_journals
from ganopt.tracking import TrackingConfig

ROLE_TAG = "ganopt.role"


def record_study(cfg: TrackingConfig, study: str, artifacts: dict[str, list[Path]]) -> str | None:
    """Sync the study's run journals, create or reuse the run `study/<study>`, nest the experiment's
    top-level runs under it and log `artifacts` ({artifact folder: files}); returns the parent run id
    (None with tracking off). StoreError if the store cannot be used."""
    if not cfg.enabled:
        return None
    sync_journals(cfg)
    with store_errors(cfg):
        return _parent_run(cfg, study, artifacts)


def _parent_run(cfg: TrackingConfig, study: str, artifacts: dict[str, list[Path]]) -> str:
    experiment_id = ensure_experiment(cfg)
    store = client(cfg)
    found = retry(store.search_runs, [experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'study'",
                  max_results=1)
    if found:
        parent = found[0].info.run_id
        retry(store.update_run, parent, status="RUNNING")
    else:
        run = retry(store.create_run, experiment_id, run_name=f"study/{study}", tags={ROLE_TAG: "study"})
        parent = run.info.run_id
    children = retry(store.search_runs, [experiment_id], max_results=50000)
    for child in children:
        # top-level runs only: a run nested elsewhere (compute_fid under its training run, a superseded
        # run under the rerun that replaced it) stays there
        if child.info.run_id != parent and "mlflow.parentRunId" not in child.data.tags:
            retry(store.set_tag, child.info.run_id, "mlflow.parentRunId", parent)
    for folder, files in artifacts.items():
        for path in files:
            retry(store.log_artifact, parent, str(path), folder)
    retry(store.set_terminated, parent, status="FINISHED")
    return parent

"""Shared plumbing of CLI jobs: the tracking section of a job config and its MLflow run."""

from __future__ import annotations

import contextlib
from typing import Iterator

from ganopt.config import from_dict
from ganopt.tracking import NullTracker, Tracker, TrackingConfig, start_run


def tracking_config(job: dict) -> TrackingConfig:
    """The job's `tracking` section (tracking off when absent)."""
    return from_dict(TrackingConfig, job.get("tracking", {"enabled": False}), where="tracking")


@contextlib.contextmanager
def job_run(job: dict, run_name: str, tags: dict[str, str] | None = None,
            run_id: str | None = None) -> Iterator[Tracker | NullTracker]:
    """The MLflow run of one job, with the job's resolved config (less tracking) as params; with
    `sync: live` the job writes its journal into the store as it goes (ganopt.mlflow_sync)."""
    params = {k: v for k, v in job.items() if k != "tracking"}
    cfg = tracking_config(job)
    sync = None
    if cfg.sync == "live":
        from ganopt.mlflow_sync import sync_journals  # imports mlflow when it writes: live tracking only

        sync = sync_journals
    with start_run(cfg, run_name, params=params, tags=tags, run_id=run_id, sync=sync) as tracker:
        yield tracker

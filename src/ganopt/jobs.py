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
    """The MLflow run of one job, with the job's resolved config (less tracking) as params."""
    params = {k: v for k, v in job.items() if k != "tracking"}
    with start_run(tracking_config(job), run_name, params=params, tags=tags, run_id=run_id) as tracker:
        yield tracker

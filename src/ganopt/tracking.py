"""MLflow tracking: one run per job, params = the job's resolved config, metrics batched.

Safe with parallel jobs on one sqlite store: store creation and experiment lookup happen under
a file lock (concurrent `set_experiment` on a new name silently logs into "Default" otherwise),
the experiment is passed by id, and writes retry while sqlite reports the database locked.

A job is identified by its run name within the study's experiment. A rerun of a job (a new run)
marks the job's earlier runs superseded; a resumed job continues its own run and skips the points
that run already holds, so a kill at any moment leaves no duplicated (key, step) point."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ganopt.config import schema_section

T = TypeVar("T")
BATCH = 1000          # MLflow's log_batch limit on metrics per call
PARAM_BATCH = 100     # ... and on params per call
PARAM_MAX_CHARS = 6000
ATTEMPTS = 30         # tries of one store call while sqlite reports the database locked
SUPERSEDED_BY = "ganopt.superseded_by"  # tag of a job's earlier run: the id of the run that replaced it
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


@schema_section("tracking.schema.yaml")
@dataclass(frozen=True)
class TrackingConfig:
    """Where runs are recorded. `uri` may be a sqlite file, a tracking server (http://...), etc."""

    enabled: bool
    uri: str
    artifact_location: str
    experiment: str


def flatten(params: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> {'gan.lr.adam': '0.001', ...}, values as strings MLflow accepts."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value)[:PARAM_MAX_CHARS]
    return out


def retry(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), retried with jittered backoff while the sqlite store is locked or busy."""
    for i in range(ATTEMPTS):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # sqlalchemy/mlflow wrap sqlite errors in several classes
            text = str(exc).lower()
            if i == ATTEMPTS - 1 or not ("locked" in text or "busy" in text):
                raise
            time.sleep(min(2.0, 0.02 * 2 ** i) * (0.5 + random.random()))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Serialize store creation/migration and experiment creation for local sqlite stores."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _quiet_mlflow() -> None:
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")


def ensure_experiment(cfg: TrackingConfig) -> str | None:
    """Create the store and the study's experiment if missing; return its id (None if disabled)."""
    if not cfg.enabled:
        return None
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    with _store_lock(cfg.uri):
        client = MlflowClient(tracking_uri=cfg.uri)
        exp = retry(client.get_experiment_by_name, cfg.experiment)
        if exp is not None:
            return exp.experiment_id
        # a folder, or a URI with a scheme (s3://..., mlflow-artifacts:/... served by `mlflow server`)
        location = Path(cfg.artifact_location).resolve().as_uri() if not URI.match(cfg.artifact_location) \
            else cfg.artifact_location
        return retry(client.create_experiment, cfg.experiment, artifact_location=location)


class Tracker:
    """One MLflow run. Metrics are buffered and sent with log_batch (per-step calls cost ~4.5 ms)."""

    def __init__(self, cfg: TrackingConfig, run_name: str, tags: dict[str, str] | None = None,
                 run_id: str | None = None, parent_run_id: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.cfg = cfg
        experiment_id = ensure_experiment(cfg)
        self._client = MlflowClient(tracking_uri=cfg.uri)
        self._buffer: list[Any] = []
        self.outcome = "FINISHED"  # set to "FAILED" to record a handled failure (e.g. divergence)
        tags = dict(tags or {}, **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {}))
        if run_id is not None:
            self.run_id = run_id
            retry(self._client.update_run, run_id, status="RUNNING")
            self._logged = logged_through(self._client, run_id)
        else:
            run = retry(self._client.create_run, experiment_id, run_name=run_name, tags=tags)
            self.run_id = run.info.run_id
            self._logged = {}
            supersede(self._client, experiment_id, run_name, self.run_id)

    def log_params(self, params: dict) -> None:
        """Log a (nested) config as flat params."""
        from mlflow.entities import Param

        flat = [Param(k, v) for k, v in flatten(params).items()]
        for i in range(0, len(flat), PARAM_BATCH):
            retry(self._client.log_batch, self.run_id, params=flat[i:i + PARAM_BATCH])

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        retry(self._client.log_batch, self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Queue metrics for `step`; non-finite values are kept out of MLflow (they stay in CSVs), and
        so are the steps a continued run already holds for that key (a resume re-logs them)."""
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), int(step)
        for key, value in metrics.items():
            value = float(value)
            if math.isfinite(value) and step > self._logged.get(key, -math.inf):
                self._buffer.append(Metric(key, value, now, step))
        if len(self._buffer) >= BATCH:
            self.flush()

    def flush(self) -> None:
        while self._buffer:
            chunk, self._buffer = self._buffer[:BATCH], self._buffer[BATCH:]
            retry(self._client.log_batch, self.run_id, metrics=chunk)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        retry(self._client.log_artifact, self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        """Flush and close the run; status is FINISHED, FAILED or KILLED."""
        self.flush()
        retry(self._client.set_terminated, self.run_id, status=status)


def logged_through(client: Any, run_id: str) -> dict[str, int]:
    """{metric key: last step the run holds}. A run's points reach the store in step order (each
    log_batch is one transaction), so every step up to that one is stored already."""
    keys = retry(client.get_run, run_id).data.metrics
    return {key: max(m.step for m in retry(client.get_metric_history, run_id, key)) for key in keys}


def supersede(client: Any, experiment_id: str, run_name: str, current: str) -> None:
    """Mark the job's earlier runs (same name, same experiment) as replaced by the run `current`:
    tagged with its id, renamed "<name> (superseded)", nested under it (so the study's parent run
    holds only current runs) and, if never finished, KILLED."""
    from mlflow.entities import RunTag

    quote = "'" if "'" not in run_name else '"'
    earlier = retry(client.search_runs, [experiment_id], f"attributes.run_name = {quote}{run_name}{quote}")
    for run in earlier:
        if run.info.run_id == current or SUPERSEDED_BY in run.data.tags:
            continue
        note = f"Superseded by run {current}, a rerun of the same job: the study's results come from that run."
        tags = {SUPERSEDED_BY: current, "mlflow.parentRunId": current, "mlflow.note.content": note}
        retry(client.log_batch, run.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        status = "KILLED" if run.info.status in ("RUNNING", "SCHEDULED") else None
        retry(client.update_run, run.info.run_id, status=status, name=f"{run_name} (superseded)")


class NullTracker:
    """Tracking switched off: the same calls, nothing recorded."""

    run_id = None
    outcome = "FINISHED"

    def log_params(self, params: dict) -> None: ...
    def set_tags(self, tags: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def flush(self) -> None: ...
    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...


@contextlib.contextmanager
def start_run(cfg: TrackingConfig, run_name: str, params: dict | None = None,
              tags: dict[str, str] | None = None, run_id: str | None = None) -> Iterator[Tracker | NullTracker]:
    """A run for one job: FINISHED when the block ends, FAILED if it raises (then re-raised).

    Pass `run_id` to continue a run (a resumed job logs into the run it started). A job that
    handles a failure itself (a diverged run) sets `tracker.outcome = "FAILED"`."""
    if not cfg.enabled:
        yield NullTracker()
        return
    _quiet_mlflow()
    tracker = Tracker(cfg, run_name, tags=tags, run_id=run_id)
    if params and run_id is None:
        tracker.log_params(params)
    try:
        yield tracker
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish(tracker.outcome)

"""Run tracking, job side: a job records each run it makes in a journal on disk, and
ganopt.mlflow_sync writes journals into the MLflow store. Jobs never import mlflow or open the
store, so a job pays no tracking start-up (~3 s of CPU per job) and parallel jobs never contend
for the store; one writer syncs them: at the end of the workflow (`sync: study`), or the job
itself at each flush (`sync: live`, to watch long runs in the UI as they go: ganopt.jobs passes
ganopt.mlflow_sync's writer in as `sync`, so this module, below it, never imports it).

A run is identified by its key (a uuid, the journal's folder name; its MLflow run carries the tag
`ganopt.run_key`). A resumed job continues its run's journal and skips the points it already
holds, so a kill at any moment leaves no duplicated (key, step) point."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganopt import io
from ganopt.config import schema_section
from ganopt.errors import ConfigError, StoreError

PARAM_MAX_CHARS = 6000
EVENTS = "events.jsonl"   # a run's journal: one JSON event per line, appended as the job goes
RUN_KEY = "ganopt.run_key"  # tag of an MLflow run: the key of the journal it was written from
# MLflow 3's tracking stores: databases (SQLAlchemy dialect[+driver]) and servers; its file store is refused
STORE_SCHEMES = {"sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks"}
URI = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")  # a URI's scheme (a Windows drive letter is no scheme)


@schema_section("tracking.schema.yaml")
@dataclass(frozen=True)
class TrackingConfig:
    """Where runs are recorded. `uri` may be a sqlite file, a tracking server (http://...), etc."""

    enabled: bool
    uri: str
    artifact_location: str
    experiment: str
    journal: str
    sync: str


def sqlite_file(uri: str) -> str | None:
    """The file of a local sqlite store URI (sqlite:///relative or sqlite:////absolute); None otherwise."""
    return uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None


def check_store(cfg: TrackingConfig) -> None:
    """Before any job runs: the URI names a store MLflow opens, a local sqlite store is an sqlite
    database or can be created, and the journal and a local artifact folder can be written.
    ConfigError otherwise."""
    if not cfg.enabled:
        return
    where = f"invalid config: config key 'tracking.uri': '{cfg.uri}'"
    scheme = URI.match(cfg.uri)
    if scheme is None or scheme[1].split("+")[0].lower() not in STORE_SCHEMES:
        raise ConfigError(f"{where} is not an MLflow tracking store: give a database (sqlite:///results/mlflow.db, "
                          "postgresql://...) or a tracking server (http://host:port)")
    db = sqlite_file(cfg.uri)
    if scheme[1] == "sqlite" and not db:
        raise ConfigError(f"{where} names no file: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
    if db is not None and Path(db).exists():
        try:
            with contextlib.closing(sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True,
                                                    timeout=1)) as con:
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):  # locked: a database, being written
                raise ConfigError(f"{where}: '{db}' is not a readable sqlite database ({exc}): move it away; "
                                  f"`ganopt sync-tracking` rebuilds the store from the journals in {cfg.journal}") \
                    from None
    elif db is not None:
        _can_make(Path(db), "tracking.uri")
    _can_make(Path(cfg.journal), "tracking.journal")
    if not URI.match(cfg.artifact_location):
        _can_make(Path(cfg.artifact_location), "tracking.artifact_location")


def _can_make(path: Path, key: str) -> None:
    """`path` is a writable folder, or can be made: its nearest existing ancestor is one."""
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"invalid config: config key '{key}': '{path}' cannot be written ('{existing}' is not a "
                          "writable folder)")


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


def read_events(folder: Path) -> list[dict]:
    """A journal's events; a last line cut short by a kill is left out (it was never complete)."""
    try:
        lines = (folder / EVENTS).read_text().splitlines()
    except FileNotFoundError:
        return []
    events = []
    for i, line in enumerate(lines):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise io.bad_file(folder / EVENTS, f"line {i + 1} is not JSON", "delete the run's journal folder "
                                  "and rerun its job") from None
    return events


def _drop_cut_line(path: Path) -> None:
    """Cut a last line a kill left unfinished, so that what a resumed job appends starts a line."""
    try:
        with open(path, "rb+") as handle:
            text = handle.read()
            if text and not text.endswith(b"\n"):
                handle.truncate(text.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def _now() -> int:
    return int(time.time() * 1000)


SyncFn = Callable[[TrackingConfig, list[Path]], object]  # writes journal folders into the MLflow store


class Tracker:
    """One run's journal. Metrics are buffered and appended as one event per flush; with `sync`
    (live tracking) each flush and the end also write the journal into the store."""

    def __init__(self, cfg: TrackingConfig, run_name: str, tags: dict[str, str] | None = None,
                 run_id: str | None = None, sync: SyncFn | None = None) -> None:
        self.cfg, self._sync = cfg, sync
        self.run_id = run_id or uuid.uuid4().hex  # the run key (named run_id as the job's handle on its run)
        self.folder = Path(cfg.journal) / self.run_id
        self._buffer: list[list] = []
        self.outcome = "FINISHED"  # set to "FAILED" to record a handled failure (e.g. divergence)
        self._warned = False  # a live sync's store failure was reported (once per run)
        _drop_cut_line(self.folder / EVENTS)
        events = read_events(self.folder)
        self._logged: dict[str, int] = {}
        for event in events:
            for key, _, _, step in event.get("metrics", ()):
                self._logged[key] = max(step, self._logged.get(key, step))
        if events:
            self._append({"op": "resume", "time": _now()})
        else:
            self._append({"op": "start", "name": run_name, "time": _now(), "ns": time.time_ns(), "tags": dict(tags or {})})

    def _append(self, event: dict) -> None:
        with io.writing(self.folder / EVENTS):
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / EVENTS, "a") as handle:
                handle.write(json.dumps(event, separators=(",", ":")) + "\n")

    def log_params(self, params: dict) -> None:
        """Log a (nested) config as flat params."""
        self._append({"op": "params", "params": flatten(params)})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._append({"op": "tags", "tags": {k: str(v) for k, v in tags.items()}})

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Queue metrics for `step`; non-finite values are kept out of MLflow (they stay in CSVs), and
        so are the steps the run already holds for that key (a resume re-logs them)."""
        now, step = _now(), int(step)
        for key, value in metrics.items():
            value = float(value)
            if math.isfinite(value) and step > self._logged.get(key, -math.inf):
                self._buffer.append([key, value, now, step])

    def _write_buffer(self) -> None:
        if self._buffer:
            self._append({"op": "metrics", "metrics": self._buffer})
            for key, _, _, step in self._buffer:
                self._logged[key] = step
            self._buffer = []

    def flush(self) -> None:
        self._write_buffer()
        self.sync()

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Copy the file into the journal (the run keeps what the job wrote, whatever happens to it later)."""
        file = f"{len(list((self.folder / 'artifacts').glob('*')))}/{Path(path).name}"
        with io.atomic_path(self.folder / "artifacts" / file) as tmp:
            shutil.copyfile(path, tmp)
        self._append({"op": "artifact", "file": file, "artifact_path": artifact_path})

    def finish(self, status: str = "FINISHED") -> None:
        """Flush and close the run; status is FINISHED, FAILED or KILLED."""
        self._write_buffer()
        self._append({"op": "end", "status": status, "time": _now()})
        self.sync()

    def sync(self) -> None:
        """Write the journal into the store now (live tracking; without `sync` a no-op): a store that
        cannot be used is one warning line (the journal keeps the run)."""
        if self._sync is None:
            return
        try:
            self._sync(self.cfg, [self.folder])
        except StoreError as exc:
            if not self._warned:
                print(f"warning: not synced live: {exc}", file=sys.stderr)
            self._warned = True


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
              tags: dict[str, str] | None = None, run_id: str | None = None,
              sync: SyncFn | None = None) -> Iterator[Tracker | NullTracker]:
    """A run for one job: FINISHED when the block ends, FAILED if it raises (then re-raised); `sync`
    as Tracker's.

    Pass `run_id` (a run key) to continue a run (a resumed job logs into the run it started). A job
    that handles a failure itself (a diverged run) sets `tracker.outcome = "FAILED"`."""
    if not cfg.enabled:
        yield NullTracker()
        return
    tracker = Tracker(cfg, run_name, tags=tags, run_id=run_id, sync=sync)
    if params and run_id is None:
        tracker.log_params(params)
    try:
        yield tracker
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish(tracker.outcome)

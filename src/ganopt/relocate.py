"""Relocate a study folder: MLflow's sqlite store keeps absolute artifact locations, so after
`results/` is moved or copied, `ganopt relocate-study` points them at the folder's new place."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from ganopt.errors import GanoptError, StoreError

# (table, key column, location column) of the store rows that name an artifact folder
LOCATIONS = (("experiments", "experiment_id", "artifact_location"), ("runs", "run_uuid", "artifact_uri"),
             ("logged_models", "model_id", "artifact_location"))


def _local(location: str) -> Path | None:
    """The folder a local artifact location names (file: URI or absolute path); None if remote."""
    if location.startswith("file:"):
        return Path(unquote(urlparse(location).path))
    return Path(location) if location.startswith("/") else None


def new_home(old: Path, results: Path) -> Path | None:
    """Where folder `old` is now: `results` joined with the longest tail of `old` that exists there."""
    parts = old.parts
    for i in range(1, len(parts)):
        candidate = results.joinpath(*parts[i:])
        if candidate.exists():
            return candidate
    return None


def _rewrite(location: str, moves: dict[str, str]) -> str:
    for old, new in moves.items():
        if location == old or location.startswith(old + "/"):
            return new + location[len(old):]
    return location


def relocate_study(results: Path, store: Path | None = None) -> dict[str, str]:
    """Rewrite the artifact locations in `store` (default results/mlflow.db) that point at a former
    place of `results`; returns {old experiment location: new one} for those it moved."""
    results = Path(results).resolve()
    store = Path(store) if store else results / "mlflow.db"
    if not store.is_file():
        raise GanoptError(f"no MLflow store at '{store}': give the study's results folder (the one holding "
                          "mlflow.db), or --store")
    try:
        return _relocate(store, results)
    except sqlite3.Error as exc:
        raise StoreError(f"the MLflow store '{store}' cannot be used (sqlite: {exc}): is it the study's "
                         "mlflow.db? If it is damaged, move it away and `ganopt sync-tracking` rebuilds it "
                         "(then no relocation is needed)") from None


def _relocate(store: Path, results: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(store, timeout=60)) as con, con:  # one transaction
        moves: dict[str, str] = {}
        for location, in con.execute("SELECT artifact_location FROM experiments"):
            old = _local(location)
            new = new_home(old, results) if old else None
            if new is not None and new != old:
                moves[location] = new.as_uri() if location.startswith("file:") else str(new)
        tables = {name for name, in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, key, column in LOCATIONS:
            if table not in tables or not moves:
                continue
            rows = con.execute(f"SELECT {key}, {column} FROM {table}").fetchall()
            changed = [(_rewrite(loc, moves), k) for k, loc in rows if loc and _rewrite(loc, moves) != loc]
            con.executemany(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", changed)
    return moves

"""File input and output. Writing is atomic (temp file in the same folder, then rename) and honours
the umask; reading turns any decoding problem into one BadFileError line naming the file and its fix."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io as _io
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ganopt.errors import BadFileError

# What to do about a bad file when its reader knows nothing more specific.
RERUN = "delete it and rerun the job that wrote it"

if TYPE_CHECKING:
    import torch


# What to do about a failed read or write, by errno (os_error_line); others: check the path
OS_FIXES = {errno.ENOSPC: "free space on its disk and rerun", errno.EDQUOT: "free space (disk quota) and rerun",
            errno.EACCES: "fix its permissions and rerun", errno.EPERM: "fix its permissions and rerun",
            errno.EROFS: "its filesystem is read-only: write elsewhere", errno.ENOENT: "check the path"}


def os_error_line(exc: OSError, where: str | os.PathLike) -> str:
    """A failed read or write of `where` as one line: the file, what failed, what to do."""
    what = f"{exc.strerror or error_line(exc)} (errno {exc.errno})" if exc.errno else error_line(exc)
    return f"'{where}': {what}: {OS_FIXES.get(exc.errno, 'check the path and rerun')}"


@contextlib.contextmanager
def writing(path: str | os.PathLike, *aliases: str | os.PathLike) -> Iterator[None]:
    """Writes to `path` (or to `aliases`, e.g. its temp file): an OSError naming no other file (a full
    disk fails write(), not open()) becomes one BadFileError line naming `path`."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None and str(exc.filename) not in {str(path), *map(str, aliases)}:
            raise
        raise BadFileError(f"cannot write {os_error_line(exc, path)}") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it onto `path`, else delete it. A
    failed write (full disk, permissions) is one BadFileError line naming `path`."""
    path = Path(path)
    tmp_path = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    with writing(path, tmp_path, path.parent):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created like open() creates files (mode 0666 less the umask), unlike mkstemp's 0600.
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            yield tmp_path
            os.replace(tmp_path, path)
        finally:
            tmp_path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON (indented, sorted keys) atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def error_line(exc: BaseException) -> str:
    """An exception as one short line (torch and pickle messages span several lines)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}{'...' if len(text) > 160 else ''}" if text else type(exc).__name__


def bad_file(path: str | os.PathLike, problem: str, fix: str = RERUN) -> BadFileError:
    """The one-line error of a file that is missing or does not hold what it should."""
    return BadFileError(f"'{path}' {problem}: {fix}")


def _kind(types: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))


def check_fields(obj: Any, path: str | os.PathLike, fields: dict[str, type | tuple[type, ...]],
                 fix: str = RERUN) -> Any:
    """`obj` (read from `path`) as a mapping holding each of `fields` with its type; else BadFileError."""
    if not isinstance(obj, dict):
        raise bad_file(path, f"holds a {type(obj).__name__} where a mapping is expected", fix)
    for key, types in fields.items():
        if key not in obj:
            raise bad_file(path, f"lacks the key '{key}'", fix)
        value = obj[key]
        wanted = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            raise bad_file(path, f"has a {type(value).__name__} under '{key}', expected {_kind(types)}", fix)
    return obj


def read_file(path: str | os.PathLike, what: str, load: Any, fix: str = RERUN) -> Any:
    """`load(path)`, with a missing file or any decoding error turned into one BadFileError line."""
    if not Path(path).is_file():
        raise bad_file(path, "does not exist" if not Path(path).exists() else "is not a file", fix)
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 - a corrupt file raises from json, zipfile, pickle or torch alike
        raise bad_file(path, f"is not a readable {what} ({error_line(exc)})", fix) from None


def read_json(path: str | os.PathLike, fields: dict[str, type | tuple[type, ...]] | None = None,
              fix: str = RERUN) -> Any:
    """A JSON file's content, checked to hold `fields` (key: type) when given."""
    obj = read_file(path, "JSON file", lambda p: json.loads(Path(p).read_text()), fix)
    return check_fields(obj, path, fields, fix) if fields else obj


def read_torch(path: str | os.PathLike, fields: dict[str, type | tuple[type, ...]] | None = None,
               fix: str = RERUN, map_location: str | torch.device = "cpu") -> Any:
    """A torch.save file's content (weights_only: no code runs), checked to hold `fields` when given."""
    import torch  # here, like numpy below: readers of JSON alone (tracking, the workflow) stay torch-free

    obj = read_file(path, "torch file", lambda p: torch.load(p, map_location=map_location, weights_only=True), fix)
    return check_fields(obj, path, fields, fix) if fields else obj


def read_npz(path: str | os.PathLike, keys: tuple[str, ...], fix: str = RERUN) -> dict[str, Any]:
    """The arrays `keys` of a .npz file (no pickle), each read into memory."""
    import numpy as np

    def load(p: str | os.PathLike) -> dict[str, Any]:
        with np.load(p, allow_pickle=False) as blob:
            return {key: blob[key] for key in keys}

    return read_file(path, f"npz file with {', '.join(keys)}", load, fix)


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    """torch.save atomically, so a kill mid-write never leaves a truncated checkpoint.

    Serialized through memory: torch names the archive after the file, and the temp name is random,
    so saving to the temp path directly would make identical tensors give different bytes."""
    import torch

    buffer = _io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def save_figure(path: str | os.PathLike, fig: Any, **kwargs: Any) -> None:
    """Save a matplotlib figure atomically (format taken from the final suffix)."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **kwargs)


def write_csv(path: str | os.PathLike, frame: Any) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_csv(path: str | os.PathLike, columns: tuple[str, ...], fix: str = RERUN, **options: Any) -> Any:
    """A CSV file as a pandas DataFrame holding at least `columns` (`options` go to pandas.read_csv)."""
    import pandas as pd  # imported here: most jobs never read a CSV, and pandas costs a second

    frame = read_file(path, "CSV file", lambda p: pd.read_csv(p, **options), fix)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise bad_file(path, f"lacks the column(s) {', '.join(missing)}", fix)
    return frame


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (manifests use sha256, feature nets sha1)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

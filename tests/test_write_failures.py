"""Writes that fail (a full disk, a read-only filesystem) end a job with one line naming the file
(or, when the failing write names none, the job's output folder) and what to do, never a traceback:
on a real full disk (a tiny tmpfs in a user and mount namespace, where the system allows one) and,
everywhere, with the failures simulated."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganopt import io
from ganopt.cli import main

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write() raises it: no file named


def test_a_write_that_fails_names_its_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Path, *args: object, **kwargs: object) -> None:
        raise ENOSPC

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(io.BadFileError) as err:
        io.write_json(tmp_path / "out" / "a.json", {})
    assert str(err.value) == (f"cannot write '{tmp_path / 'out' / 'a.json'}': No space left on device (errno 28): "
                              "free space on its disk and rerun")
    assert not list((tmp_path / "out").iterdir())


def test_an_error_of_another_file_keeps_its_name(tmp_path: Path) -> None:
    """Reading a missing file while writing is that file's error, not the written file's."""
    with pytest.raises(FileNotFoundError) as err, io.atomic_path(tmp_path / "copy.txt") as tmp:
        shutil.copyfile(tmp_path / "missing.txt", tmp)
    assert err.value.filename == str(tmp_path / "missing.txt")


def test_a_job_whose_write_names_no_file_names_its_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def job(config: dict, out: Path) -> None:
        raise ENOSPC

    monkeypatch.setattr("ganopt.cli._resolve", lambda target: job)
    assert main(["toy-theorem", "--config", "{}", "--out", str(tmp_path / "toy")]) == 2
    err = capsys.readouterr().err
    assert err == (f"ganopt toy-theorem: error: '{tmp_path / 'toy'}': No space left on device (errno 28): free space "
                   "on its disk and rerun\n")


def test_an_error_line_that_stderr_cannot_take_still_ends_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job's log on a full disk: the line goes to the terminal if there is one, and the exit status stays 2."""
    class FullLog:
        def write(self, text: str) -> int:
            raise ENOSPC

        def flush(self) -> None:
            raise ENOSPC

    monkeypatch.setattr(sys, "stderr", FullLog())
    assert main(["compute-fid", "--config", "{}", "--out", "nowhere"]) == 2


# One process in a user and mount namespace: a 2 MiB tmpfs holds the results; jobs run through
# ganopt.cli.main with stderr in a file outside it. A training run fits; then the disk is filled and
# every job fails writing its outputs (its run journal elsewhere) or its journal; then the
# filesystem is made read-only.
FULL_DISK = """
import contextlib, json, subprocess, sys
from pathlib import Path
from ganopt.cli import main

disk, data, logs = map(Path, sys.argv[1:4])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
tracking = {"enabled": True, "journal": f"{logs}/tracking", "uri": f"sqlite:///{disk}/mlflow.db",
            "artifact_location": f"{disk}/mlartifacts", "experiment": "e", "sync": "study"}
train = {"dataset": "ring8", "optimizer": "adam", "seeds": [0], "data_dir": str(data), "lr_g": 1e-3, "lr_d": 1e-3,
         "tracking": tracking, "train": {"steps": 20, "batch_size": 32, "snapshot_every": 10, "checkpoint_every": 10,
                                         "net": {"arch": "mlp", "z_dim": 2, "width": 16, "depth": 1}}}
fid = {"dataset": "ring8", "optimizer": "adam", "seeds": [0], "data_dir": str(data), "feature_dir": str(disk),
       "tracking": tracking, "fid": {"modes": {"n_samples": 300}}}
toy = {"device": "cpu", "optimizer": "sgda", "tracking": tracking,
       "toy": {"n_seeds": 2, "steps_per_log": 17.0, "eval_every": 10, "batch_size": 8, "d": [20, 10],
               "lr_g": [0.01, 0.01], "lr_d": [0.03, 0.03]}}

def run(name, command, job, out):
    with open(logs / f"{name}.log", "w") as log, contextlib.redirect_stderr(log):
        code = main([command, "--config", json.dumps(job), "--out", str(out)])
    (logs / f"{name}.rc").write_text(str(code))

run("train", "train-gan", train, disk / "run")
with open(disk / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
    while True:
        filler.write(b"0" * 4096)
run("full_fid", "compute-fid", fid, disk / "run")
run("full_toy", "toy-theorem", toy, disk / "toy")
run("full_train", "train-gan", train | {"seeds": [1]}, disk / "run1")
run("full_journal", "train-gan", train | {"seeds": [1], "tracking": tracking | {"journal": f"{disk}/tracking"}},
    logs / "run1")
(disk / "filler").unlink()
subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
run("readonly_train", "train-gan", train | {"seeds": [2]}, disk / "run2")
"""


def _namespaces() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _namespaces(), reason="no user and mount namespaces here (unshare -rm) for a tiny tmpfs")
def test_jobs_on_a_full_and_a_read_only_disk(tmp_path: Path) -> None:
    from ganopt.data import prepare_dataset

    prepare_dataset("ring8", {"n_train": 256, "n_test": 64}, tmp_path / "data")
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    disk.mkdir()
    logs.mkdir()
    proc = subprocess.run(["unshare", "-rm", sys.executable, "-c", FULL_DISK, str(disk), str(tmp_path / "data"),
                           str(logs)], capture_output=True, text=True, timeout=600, env=os.environ | {"PYTHONPATH": str(
                               Path(__file__).resolve().parents[1] / "src")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (logs / "train.rc").read_text() == "0", (logs / "train.log").read_text()
    for name, where, fix in (("full_fid", "run/seed0/fid.json", "free space on its disk"),
                             ("full_toy", "toy/", "free space on its disk"),
                             ("full_train", "run1/", "free space on its disk"),
                             ("full_journal", "tracking/", "free space on its disk"),
                             ("readonly_train", "run2", "read-only")):
        line = (logs / f"{name}.log").read_text()
        assert (logs / f"{name}.rc").read_text() == "2", line
        assert line.count("\n") == 1 and "Traceback" not in line and fix in line, line
        assert line.startswith("ganopt ") and f"'{disk}/{where}" in line, line  # the file it could not write

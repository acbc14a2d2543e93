"""Atomic outputs: a failure while writing leaves the old file intact and no temp file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganopt import io


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert io.read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_torch_save_is_byte_deterministic(tmp_path: Path) -> None:
    obj = {"w": torch.arange(10.0)}
    io.torch_save(tmp_path / "a.pt", obj)
    io.torch_save(tmp_path / "b.pt", obj)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["w"], obj["w"])


def test_figure_and_csv_are_written_whole(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    io.save_figure(tmp_path / "f.png", fig)
    io.write_csv(tmp_path / "t.csv", pd.DataFrame({"x": [1, 2]}))
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "t.csv").read_text() == "x\n1\n2\n"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """Files appear as a plain open() would create them (0666 less the umask), not mkstemp's 0600."""
    import os

    old = os.umask(umask)
    try:
        io.write_json(tmp_path / "a.json", {"a": 1})
        io.torch_save(tmp_path / "sub" / "b.pt", {"w": torch.zeros(1)})
    finally:
        os.umask(old)
    for path in (tmp_path / "a.json", tmp_path / "sub" / "b.pt"):
        assert path.stat().st_mode & 0o777 == mode, path


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(io.BadFileError, match=r"cannot write '.*file/out.json': Not a directory \(errno 20\): check"):
        io.write_json(tmp_path / "file" / "out.json", {})

"""Dataset registry: generated mixtures, shipped digits, and the real MNIST/CIFAR-10 loaders on tiny
files written here in the official formats."""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganopt import data
from ganopt.config import schema_file
from ganopt.dataconfig import DATASET_CONFIGS, is_mixture
from ganopt.errors import DataMissingError


def test_registry_builders_configs_and_schema_name_the_same_datasets() -> None:
    """The torch-free config half (ganopt.dataconfig), the builders and the schema list one set of
    datasets, and each dataset's config class binds the schema node its data.<name> refers to."""
    from ganopt.config import BOUND

    properties = schema_file("data.schema.yaml")["properties"]
    assert list(DATASET_CONFIGS) == list(data.DATASETS) == list(properties)
    for name, cls in DATASET_CONFIGS.items():
        assert BOUND[cls].ref == "data.schema.yaml" + properties[name]["$ref"], name
    assert [name for name in DATASET_CONFIGS if is_mixture(name)] == ["ring8", "grid25"]


def test_ring8_samples_sit_on_their_modes(tmp_path: Path) -> None:
    manifest = data.prepare_dataset("ring8", {"n_train": 4000, "n_test": 100, "std": 0.05}, tmp_path)
    prepared = data.load_prepared(tmp_path)
    centers = torch.tensor(prepared.meta["centers"])
    assert centers.shape == (8, 2) and torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
    dist = torch.cdist(prepared.train, centers).min(dim=1).values
    assert dist.max() < 0.05 * 6 and manifest["counts"] == {"train": 4000, "test": 100}
    counts = torch.bincount(torch.cdist(prepared.train, centers).argmin(1), minlength=8)
    assert counts.min() > 4000 / 8 * 0.8


def test_grid25_has_25_modes_and_is_deterministic(tmp_path: Path) -> None:
    a = data.prepare_dataset("grid25", {"n_train": 50, "n_test": 10}, tmp_path / "a")
    b = data.prepare_dataset("grid25", {"n_train": 50, "n_test": 10}, tmp_path / "b")
    assert a["sha256"] == b["sha256"]
    assert len(data.load_prepared(tmp_path / "a").meta["centers"]) == 25


@pytest.mark.parametrize("size", [8, 16])
def test_digits_scaled_and_split(tmp_path: Path, size: int) -> None:
    manifest = data.prepare_dataset("digits", {"size": size}, tmp_path)
    prepared = data.load_prepared(tmp_path)
    assert manifest["shape"] == [1, size, size] and prepared.kind == "images"
    assert manifest["counts"]["train"] + manifest["counts"]["test"] == 1797
    assert prepared.train.min() >= -1 and prepared.train.max() <= 1
    assert prepared.train.min() == -1 and prepared.train.max() > 0.99


def test_manifest_detects_a_replaced_file(tmp_path: Path) -> None:
    data.prepare_dataset("ring8", {"n_train": 10, "n_test": 10}, tmp_path)
    torch.save({"train": torch.zeros(1)}, tmp_path / "data.pt")
    with pytest.raises(DataMissingError, match="does not match its manifest"):
        data.load_prepared(tmp_path)
    with pytest.raises(DataMissingError, match="no prepared dataset"):
        data.load_prepared(tmp_path / "missing")


def write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST idx format: magic (dtype code 0x08 = ubyte, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_tiny_mnist(root: Path, n: int = 12) -> np.ndarray:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, size=n, dtype=np.uint8))
    return images


def make_tiny_cifar10(root: Path, n: int = 4) -> np.ndarray:
    """Pickled batches exactly like cifar-10-batches-py (row-major 3x32x32 uint8 rows)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": rows, "labels": list(range(n)), "batch_label": name}, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, handle)
    return rows


def test_mnist_through_torchvision(tmp_path: Path) -> None:
    images = make_tiny_mnist(tmp_path / "mnist")
    manifest = data.prepare_dataset("mnist", {"root": str(tmp_path / "mnist")}, tmp_path / "out")
    prepared = data.load_prepared(tmp_path / "out")
    assert manifest["shape"] == [1, 28, 28] and manifest["counts"] == {"train": 12, "test": 12}
    expected = torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1
    assert torch.allclose(prepared.train, expected)


def test_cifar10_through_torchvision(tmp_path: Path) -> None:
    rows = make_tiny_cifar10(tmp_path / "cifar10")
    section = {"root": str(tmp_path / "cifar10"), "verify_checksums": False}
    manifest = data.prepare_dataset("cifar10", section, tmp_path / "out")
    assert manifest["shape"] == [3, 32, 32] and manifest["counts"] == {"train": 20, "test": 4}
    first = data.load_prepared(tmp_path / "out").test[0]
    assert torch.allclose(first, torch.from_numpy(rows[0].reshape(3, 32, 32)).float() / 127.5 - 1)


def test_cifar10_checksums_are_checked_by_default(tmp_path: Path) -> None:
    make_tiny_cifar10(tmp_path / "cifar10")
    with pytest.raises(DataMissingError, match="failed its checksum test"):
        data.prepare_dataset("cifar10", {"root": str(tmp_path / "cifar10")}, tmp_path / "out")


@pytest.mark.parametrize("name, expected", [
    ("mnist", "MNIST is not in '{root}/MNIST/raw': put the four unzipped idx files"),
    ("cifar10", "CIFAR-10 is not in '{root}/cifar-10-batches-py': unpack cifar-10-python.tar.gz"),
])
def test_missing_dataset_is_one_clear_sentence(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(DataMissingError) as err:
        data.prepare_dataset(name, {"root": str(tmp_path)}, tmp_path / "out")
    assert str(err.value).startswith(expected.format(root=tmp_path))
    assert not (tmp_path / "out").exists()


def test_cli_reports_missing_data_without_traceback(tmp_path: Path) -> None:
    job = json.dumps({"dataset": "cifar10", "data": {"root": str(tmp_path)}})
    proc = subprocess.run([sys.executable, "-m", "ganopt.cli", "prepare-data", "--config", job, "--out",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("ganopt prepare-data: error: CIFAR-10 is not in")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_dataset_option_is_named(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"'data.ring8': unknown key\(s\) 'sdt'"):
        data.prepare_dataset("ring8", {"sdt": 1}, tmp_path)

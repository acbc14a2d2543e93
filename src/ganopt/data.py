"""Dataset registry: 2-D Gaussian mixtures, scikit-learn's 8x8 digits (plain and stacked), MNIST and CIFAR-10.

`prepare_dataset` writes `data.pt` (train/test tensors) and `manifest.json` (counts, shapes,
sha256) into an output folder; `load_prepared` reads them back as float tensors in [-1, 1]."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from ganopt import io
from ganopt.dataconfig import (
    DATASET_CONFIGS,
    DigitsConfig,
    MixtureConfig,
    StackedDigitsConfig,
    TorchvisionConfig,
)
from ganopt.errors import BadFileError, ConfigError, DataMissingError


def ring8_centers(scale: float) -> torch.Tensor:
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([scale * torch.cos(angles), scale * torch.sin(angles)], 1).float()


def grid25_centers(scale: float) -> torch.Tensor:
    ticks = torch.linspace(-scale, scale, 5)
    return torch.cartesian_prod(ticks, ticks).float()


def _mixture(centers: torch.Tensor, cfg: MixtureConfig) -> dict:
    gen = torch.Generator().manual_seed(cfg.seed)

    def draw(n: int) -> torch.Tensor:
        idx = torch.randint(len(centers), (n,), generator=gen)
        return centers[idx] + cfg.std * torch.randn(n, 2, generator=gen)

    return {"train": draw(cfg.n_train), "test": draw(cfg.n_test),
            "meta": {"kind": "points", "centers": centers.tolist(), "std": cfg.std}}


def _ring8(cfg: MixtureConfig) -> dict:
    return _mixture(ring8_centers(cfg.scale), cfg)


def _grid25(cfg: MixtureConfig) -> dict:
    return _mixture(grid25_centers(cfg.scale), cfg)


def _digits(cfg: DigitsConfig) -> dict:
    from sklearn.datasets import load_digits

    if cfg.size not in (8, 16):
        raise ConfigError(f"data.digits.size must be 8 or 16, got {cfg.size}")
    raw = load_digits()
    images = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0 * 2 - 1
    if cfg.size == 16:
        images = torch.nn.functional.interpolate(images, size=16, mode="bilinear", align_corners=False)
    labels = torch.tensor(raw.target)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.seed))
    n_test = int(round(cfg.test_fraction * len(images)))
    test, train = perm[:n_test], perm[n_test:]
    return {"train": images[train].clamp(-1, 1), "test": images[test].clamp(-1, 1),
            "train_labels": labels[train], "test_labels": labels[test], "meta": {"kind": "images"}}


def _stacked_digits(cfg: StackedDigitsConfig) -> dict:
    digits = _digits(DigitsConfig(size=8, test_fraction=cfg.test_fraction, seed=cfg.seed))
    gen = torch.Generator().manual_seed(cfg.seed)
    out: dict = {"meta": {"kind": "images"}}
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test)):
        idx = torch.randint(len(digits[split]), (n, 3), generator=gen)
        out[split] = digits[split][idx].flatten(1, 2)      # (n, 3, 8, 8): digit i in channel i
        out[f"{split}_labels"] = digits[f"{split}_labels"][idx]   # (n, 3): the digit of each channel
    return out


def _mnist(cfg: TorchvisionConfig) -> dict:
    from torchvision.datasets import MNIST

    raw = Path(cfg.root) / "MNIST" / "raw"
    if not cfg.download and not all((raw / f).exists() for f in MNIST_FILES):
        raise DataMissingError(
            f"MNIST is not in '{raw}': put the four unzipped idx files ({', '.join(MNIST_FILES)}) there, "
            "or set data.mnist.download: true on a machine with internet.")
    splits = _read_splits("MNIST", raw, {"train": MNIST_FILES[:2], "test": MNIST_FILES[2:]},
                          lambda train: MNIST(cfg.root, train=train, download=cfg.download))
    return {s: ds.data.unsqueeze(1).contiguous() for s, ds in splits.items()} | {
        f"{s}_labels": ds.targets for s, ds in splits.items()} | {"meta": {"kind": "images"}}


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


def _read_splits(dataset: str, folder: Path, files: dict[str, tuple[str, ...]],
                 make: Callable[[bool], object]) -> dict:
    """{split: make(train?)} of a torchvision dataset; any decoding error of its files becomes one line."""
    splits = {}
    for split, names in files.items():
        try:
            splits[split] = make(split == "train")
        except DataMissingError:
            raise
        except Exception as exc:  # noqa: BLE001 - garbage files fail in numpy, pickle or torch alike
            raise BadFileError(f"the {dataset} {split} files ({', '.join(names)}) in '{folder}' cannot be read "
                               f"({io.error_line(exc)}): replace them with the official files "
                               "(or delete them and set download: true on a machine with internet).") from None
    return splits


def _cifar10_class(verify: bool) -> type:
    """torchvision's CIFAR10, optionally without md5 checks (the tests' tiny batch files)."""
    from torchvision.datasets import CIFAR10

    if verify:
        return CIFAR10

    class UncheckedCIFAR10(CIFAR10):
        def _check_integrity(self) -> bool:
            return all((Path(self.root) / self.base_folder / f).exists() for f in CIFAR10_FILES)

        def _load_meta(self) -> None:
            import pickle

            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as handle:
                self.classes = pickle.load(handle, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    return UncheckedCIFAR10


def _cifar10(cfg: TorchvisionConfig) -> dict:
    folder = Path(cfg.root) / "cifar-10-batches-py"
    if not cfg.download and not all((folder / f).exists() for f in CIFAR10_FILES):
        raise DataMissingError(
            f"CIFAR-10 is not in '{folder}': unpack cifar-10-python.tar.gz so that {', '.join(CIFAR10_FILES)} "
            "are in that folder, or set data.cifar10.download: true on a machine with internet.")
    cls = _cifar10_class(cfg.verify_checksums)

    def make(train: bool) -> object:
        try:
            return cls(cfg.root, train=train, download=cfg.download)
        except RuntimeError as exc:
            if not cfg.verify_checksums:
                raise
            raise DataMissingError(f"CIFAR-10 in '{folder}' failed its checksum test ({exc}); replace the files "
                                   "with the official ones or set data.cifar10.verify_checksums: false.") from None

    meta = ("batches.meta",)
    splits = _read_splits("CIFAR-10", folder, {"train": CIFAR10_FILES[:5] + meta, "test": CIFAR10_FILES[5:]}, make)
    out = {s: torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous() for s, ds in splits.items()}
    return out | {f"{s}_labels": torch.tensor(ds.targets) for s, ds in splits.items()} | {"meta": {"kind": "images"}}


# The registry: the function building each dataset's tensors from its config (ganopt.dataconfig).
DATASETS: dict[str, Callable[..., dict]] = {
    "ring8": _ring8,
    "grid25": _grid25,
    "digits": _digits,
    "stacked_digits": _stacked_digits,
    "mnist": _mnist,
    "cifar10": _cifar10,
}


def dataset_config(name: str, section: dict | None = None) -> object:
    """The typed config of dataset `name` from its `data.<name>` section."""
    from ganopt.config import from_dict

    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})")
    return from_dict(DATASET_CONFIGS[name], section or {}, where=f"data.{name}")


def prepare_dataset(name: str, section: dict | None, out_dir: str | os.PathLike) -> dict:
    """Build dataset `name` and write `data.pt` + `manifest.json` into out_dir; return the manifest."""
    cfg = dataset_config(name, section)
    tensors = DATASETS[name](cfg)
    meta = tensors.pop("meta")
    out = Path(out_dir)
    io.torch_save(out / "data.pt", {**tensors, "meta": meta, "name": name})
    manifest = {
        "dataset": name,
        "config": asdict(cfg),
        "kind": meta["kind"],
        "counts": {s: len(tensors[s]) for s in ("train", "test")},
        "shape": list(tensors["train"].shape[1:]),
        "dtype": str(tensors["train"].dtype).removeprefix("torch."),
        "sha256": io.file_digest(out / "data.pt"),
    }
    io.write_json(out / "manifest.json", manifest)
    return manifest


@dataclass
class Prepared:
    """A prepared dataset as training and evaluation see it: floats, images in [-1, 1]."""

    name: str
    kind: str
    train: torch.Tensor
    test: torch.Tensor
    meta: dict


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0 if x.dtype == torch.uint8 else x.float()


def load_prepared(data_dir: str | os.PathLike) -> Prepared:
    """Load what prepare_dataset wrote, checking data.pt against the manifest's sha256."""
    data_dir = Path(data_dir)
    manifest_path, data_path = data_dir / "manifest.json", data_dir / "data.pt"
    if not data_path.exists() or not manifest_path.exists():
        raise DataMissingError(f"no prepared dataset in '{data_dir}': run `ganopt prepare-data` "
                               "(or the prepare_data rule) first.")
    fix = f"delete the folder '{data_dir}' and rerun the prepare_data rule (`ganopt prepare-data`)"
    manifest = io.read_json(manifest_path, {"dataset": str, "kind": str, "sha256": str, "shape": list,
                                            "counts": dict}, fix)
    if io.file_digest(data_path) != manifest["sha256"]:
        raise DataMissingError(f"'{data_path}' does not match its manifest's sha256 (corrupt or replaced); "
                               "delete the folder and prepare the data again.")
    blob = io.read_torch(data_path, {"train": torch.Tensor, "test": torch.Tensor, "meta": dict}, fix)
    for split in ("train", "test"):  # what training and scoring build their nets for
        said = [manifest["counts"].get(split), *manifest["shape"]]
        if list(blob[split].shape) != said:
            raise io.bad_file(data_path, f"holds {split} points of shape {list(blob[split].shape)} where its manifest "
                              f"'{manifest_path}' says {said} (count, then one point's shape)", fix)
    return Prepared(manifest["dataset"], manifest["kind"], _as_float(blob["train"]), _as_float(blob["test"]),
                    blob["meta"])


def per_channel(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Classifier training pairs: stacked images (N, C, H, W) with labels (N, C) become N*C
    single-channel images with one label each; images with one label per image pass unchanged."""
    if labels.dim() == 1:
        return images, labels
    if labels.shape != images.shape[:2]:
        raise ConfigError(f"stacked labels {tuple(labels.shape)} do not match images {tuple(images.shape)}: "
                          "need one label per channel")
    return images.flatten(0, 1).unsqueeze(1), labels.flatten()


def prepare_data_job(job: dict, out: Path) -> None:
    """CLI entry: job = {"dataset": name, "data": {options of data.<name>}, "tracking": {...}}."""
    from ganopt import timing
    from ganopt.config import require_keys
    from ganopt.jobs import job_run

    require_keys(job, "prepare-data job", dataset=str)
    with job_run(job, f"prepare_data/{job['dataset']}", tags={"stage": "data"}) as tracker:
        with timing.phase("build"):
            manifest = prepare_dataset(job["dataset"], job.get("data"), out)
        tracker.log_metrics({f"count/{k}": v for k, v in manifest["counts"].items()}, step=0)
        tracker.set_tags({"sha256": manifest["sha256"]})
        tracker.log_artifact(Path(out) / "manifest.json")
    print(f"prepared {manifest['dataset']}: {manifest['counts']} x {manifest['shape']} -> {out}")

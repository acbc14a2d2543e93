"""FID and KID of generated images against a dataset's reference statistics, fully offline.

Reuses clean-fid for what defines the numbers: its "clean" resize (PIL bicubic to 299x299 on
float pixels, as `cleanfid.fid.get_model_features` does for generators), `frechet_distance`
and `kernel_distance` (KID). Reference statistics are computed here with numpy and stored
under results/fid/<dataset>/ (clean-fid's `make_custom_stats` writes into site-packages and
takes no custom feature network). Every number is keyed by its feature source."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganopt import io
from ganopt.config import schema_section
from ganopt.errors import ConfigError, GanoptError
from ganopt.metrics.classes import ClassesConfig
from ganopt.metrics.features import SOURCES, FeatureNetConfig, FeatureSource
from ganopt.metrics.plateau import PlateauConfig

CLEAN_BATCH = 32  # 299x299 images per forward pass: bounds the activations' memory (~1 GB for Inception)
SPLITS = ("train", "test")


@schema_section("fid.schema.yaml#/$defs/source")
@dataclass(frozen=True)
class SourceConfig:
    """How one feature source is used on generated images."""

    n_samples: int  # generated images per evaluated step
    steps: str  # "all" evaluation points, or only the "final" one
    n_reference: int | None  # cap on reference images (None: the whole split)


@schema_section("fid.schema.yaml#/properties/inception")
@dataclass(frozen=True)
class InceptionConfig(SourceConfig):
    """Inception-v3 is slow on CPU: by default few samples, final checkpoint only."""

    n_samples: int
    steps: str
    path: str | None  # a local TorchScript file, looked at before the other two places
    sha1: str | None  # the file's expected sha1 (None: one of features.KNOWN_INCEPTION_SHA1)


@schema_section("fid.schema.yaml#/properties/kid")
@dataclass(frozen=True)
class KidConfig:
    """clean-fid's kernel_distance: mean over `subsets` random subsets of `subset_size` features."""

    subsets: int
    subset_size: int
    n_reference: int  # reference features kept in ref_stats for KID


@schema_section("fid.schema.yaml#/properties/modes")
@dataclass(frozen=True)
class ModesConfig:
    """Mode metrics of 2-D mixtures (ganopt.metrics.modes)."""

    n_samples: int  # generated points per evaluated step
    radius_std: float  # a point is high quality within radius_std * std of its nearest mode
    min_count: float  # a mode is covered with >= min_count high-quality points per 2,500 points


@schema_section("fid.schema.yaml")
@dataclass(frozen=True)
class FidConfig:
    """The `fid:` section of the study config."""

    activate: bool
    sources: tuple[str, ...]
    reference_split: str
    seed: int  # latent seed, the same at every step (common random numbers)
    batch_size: int
    kid: KidConfig
    feature_net: FeatureNetConfig
    domain: SourceConfig
    inception: InceptionConfig
    modes: ModesConfig
    plateau: PlateauConfig
    classes: ClassesConfig

    def __post_init__(self) -> None:
        for name in self.sources:
            if name not in SOURCES:
                raise ConfigError(f"fid.sources: unknown feature source '{name}' (allowed: {', '.join(SOURCES)})")
        if self.reference_split not in SPLITS:
            raise ConfigError(f"fid.reference_split must be one of {', '.join(SPLITS)}, got '{self.reference_split}'")
        for name in SOURCES:
            if getattr(self, name).steps not in ("all", "final"):
                raise ConfigError(f"fid.{name}.steps must be 'all' or 'final', got '{getattr(self, name).steps}'")

    def source(self, name: str) -> SourceConfig:
        return getattr(self, name)


@dataclass(frozen=True)
class Reference:
    """Reference statistics of one dataset split under one feature source."""

    mu: np.ndarray
    sigma: np.ndarray
    kid_feats: np.ndarray              # a seeded subset of the reference features, for KID
    meta: dict                         # dataset, source, split, n, feature_sha1, resize, real-vs-real scores


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> float pixels in [0, 255] (clean-fid's generator convention, unquantized)."""
    return ((images.float() + 1.0) * 127.5).clamp(0.0, 255.0)


def resize_clean(pixels: torch.Tensor, workers: int | None = None) -> torch.Tensor:
    """clean-fid's "clean" resize of each image (grey expanded to RGB first, as PIL's convert does),
    on `workers` threads (default: torch's thread count, i.e. the job's threads): PIL releases the
    GIL while it resamples, so 50k images are not bound to one core."""
    from concurrent.futures import ThreadPoolExecutor

    from cleanfid.resize import build_resizer

    resize = build_resizer("clean")
    rgb = pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels
    images = rgb.permute(0, 2, 3, 1).numpy().astype(np.float32)
    with ThreadPoolExecutor(max_workers=workers or torch.get_num_threads()) as pool:
        out = list(pool.map(resize, images))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


@torch.no_grad()
def extract(source: FeatureSource, images: torch.Tensor, batch_size: int = 500,
            device: torch.device | str = "cpu") -> np.ndarray:
    """Features (N, D) of images in [-1, 1], resized as the source's resize mode says."""
    if source.resize == "clean":
        batch_size = min(batch_size, CLEAN_BATCH)
    feats = []
    for batch in images.split(batch_size):
        pixels = to_pixels(batch)
        if source.resize == "clean":
            pixels = resize_clean(pixels)
        feats.append(source.extractor(pixels.to(device)).float().cpu().numpy())
    return np.concatenate(feats)


def gaussian_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance as clean-fid computes them."""
    return np.mean(feats, axis=0), np.cov(feats, rowvar=False)


def frechet(stats_a: tuple[np.ndarray, np.ndarray], stats_b: tuple[np.ndarray, np.ndarray]) -> float:
    """clean-fid's Fréchet distance between two (mu, sigma) pairs."""
    from cleanfid.fid import frechet_distance

    return float(frechet_distance(stats_a[0], stats_a[1], stats_b[0], stats_b[1]))


def kid(feats: np.ndarray, ref_feats: np.ndarray, cfg: KidConfig, seed: int) -> float:
    """clean-fid's kernel_distance, its subsets drawn from a seeded numpy state (deterministic)."""
    from cleanfid.fid import kernel_distance

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return kernel_distance(ref_feats, feats, num_subsets=cfg.subsets,
                               max_subset_size=min(cfg.subset_size, len(feats), len(ref_feats)))
    finally:
        np.random.set_state(state)


def seeded_subset(n: int, k: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of k of n items (all when k is None or >= n), the same for the same seed."""
    if k is None or k >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].sort().values


def score(feats: np.ndarray, source: FeatureSource, ref: Reference, cfg: FidConfig) -> dict[str, float]:
    """`fid_<source>` and `kid_<source>` of features against a reference (checked to match)."""
    if ref.meta["feature_sha1"] != source.sha1 or ref.meta["resize"] != source.resize:
        raise GanoptError(f"the {source.name} reference statistics of {ref.meta['dataset']} were made with feature "
                          f"file sha1 {ref.meta['feature_sha1']} ({ref.meta['resize']} resize) but {source.path} has "
                          f"sha1 {source.sha1} ({source.resize}); rerun the reference_stats rule.")
    return {f"fid_{source.name}": frechet(gaussian_stats(feats), (ref.mu, ref.sigma)),
            f"kid_{source.name}": kid(feats, ref.kid_feats, cfg.kid, cfg.seed)}


def build_reference(source: FeatureSource, train: torch.Tensor, test: torch.Tensor, dataset: str,
                    cfg: FidConfig, device: torch.device | str = "cpu") -> Reference:
    """Statistics of the reference split, plus the real-vs-real floor: the other split scored against it."""
    splits = {"train": train, "test": test}
    other = "test" if cfg.reference_split == "train" else "train"
    src_cfg = cfg.source(source.name)
    images = splits[cfg.reference_split]
    images = images[seeded_subset(len(images), src_cfg.n_reference, cfg.seed)]
    feats = extract(source, images, cfg.batch_size, device)
    mu, sigma = gaussian_stats(feats)
    kid_feats = feats[seeded_subset(len(feats), cfg.kid.n_reference, cfg.seed).numpy()]
    meta = {"dataset": dataset, "source": source.name, "split": cfg.reference_split, "n": len(feats),
            "feature_sha1": source.sha1, "feature_path": source.path, "resize": source.resize,
            "feature_dim": int(feats.shape[1])}
    ref = Reference(mu, sigma, kid_feats, meta)
    held_out = splits[other][seeded_subset(len(splits[other]), src_cfg.n_samples, cfg.seed)]
    real = score(extract(source, held_out, cfg.batch_size, device), source, ref, cfg)
    meta.update({f"{k}_real": v for k, v in real.items()}, real_split=other, real_n=len(held_out))
    return ref


def save_reference(path: str | os.PathLike, ref: Reference) -> None:
    """npz with mu, sigma, kid_feats and the metadata as a JSON string (no pickle needed to read it)."""
    with io.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, mu=ref.mu, sigma=ref.sigma, kid_feats=ref.kid_feats, meta=np.array(json.dumps(ref.meta)))


def load_reference(path: str | os.PathLike) -> Reference:
    """What save_reference wrote; a missing or unreadable file is one line naming the rule to rerun."""
    if not Path(path).is_file():
        raise GanoptError(f"no reference statistics at '{path}': run the reference_stats rule first.")
    fix = "delete it and rerun the reference_stats rule (`ganopt reference-stats`)"
    blob = io.read_npz(path, ("mu", "sigma", "kid_feats", "meta"), fix)
    try:
        meta = json.loads(str(blob["meta"]))
    except json.JSONDecodeError as exc:
        raise io.bad_file(path, f"holds no JSON meta ({io.error_line(exc)})", fix) from None
    io.check_fields(meta, path, {"feature_sha1": str, "resize": str}, fix)
    return Reference(blob["mu"], blob["sigma"], blob["kid_feats"], meta)


def fid_config(job: dict) -> FidConfig:
    from ganopt.config import from_dict

    return from_dict(FidConfig, job.get("fid", {}), where="fid")


def reference_stats_job(job: dict, out: Path) -> None:
    """CLI entry: job = {"dataset", "source", "data_dir", "fid": {...}} -> out/ref_stats_<source>.npz."""
    from ganopt import timing
    from ganopt.config import require_keys
    from ganopt.data import load_prepared
    from ganopt.jobs import job_run
    from ganopt.metrics.features import load_source
    from ganopt.runtime import limit_threads, select_device

    require_keys(job, "reference-stats job", dataset=str, source=str, data_dir=str)
    limit_threads()
    cfg = fid_config(job)
    device = select_device(job.get("device", "auto"))
    name = job["source"]
    with job_run(job, f"reference_stats/{job['dataset']}/{name}", tags={"stage": "fid", "source": name}) as tracker:
        with timing.phase("eval"):
            data = load_prepared(job["data_dir"])
            if data.kind != "images":
                raise ConfigError(f"reference_stats needs an image dataset; '{data.name}' is {data.kind} "
                                  "(mixtures are scored with mode metrics).")
            source = load_source(name, out, cfg.inception.path, device, cfg.inception.sha1)
            ref = build_reference(source, data.train, data.test, data.name, cfg, device)
            save_reference(Path(out) / f"ref_stats_{name}.npz", ref)
        tracker.log_metrics({k: v for k, v in ref.meta.items() if k.endswith("_real")}, step=0)
        tracker.set_tags({"feature_sha1": source.sha1, "resize": source.resize})
    print(f"{name} reference of {data.name}: n={ref.meta['n']}, "
          f"real {ref.meta['real_split']} vs {ref.meta['split']}: fid_{name} {ref.meta[f'fid_{name}_real']:.3f}")

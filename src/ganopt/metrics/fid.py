"""FID and KID of generated images against a dataset's reference statistics, fully offline.

Reuses clean-fid for what defines the numbers: its "clean" resize (PIL bicubic to 299x299 on
float pixels, as `cleanfid.fid.get_model_features` does for generators), `frechet_distance`
and `kernel_distance` (KID). Reference statistics are computed here with numpy and stored
under results/fid/<dataset>/ (clean-fid's `make_custom_stats` writes into site-packages and
takes no custom feature network). Every number is keyed by its feature source."""

from __future__ import annotations

import functools
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

CLEAN_SIZE = 299  # clean-fid's Inception input side
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


def _pil_bicubic(x: float) -> float:
    """PIL's bicubic filter (Resample.c, a = -0.5)."""
    x = abs(x)
    if x < 1.0:
        return (1.5 * x - 2.5) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * -0.5
    return 0.0


@functools.lru_cache(maxsize=8)
def _pil_weights(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) float64 coefficients of PIL's bicubic resampling of one axis (Resample.c
    precompute_coeffs: taps around each output pixel's centre, normalized to sum 1)."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    for out in range(n_out):
        center = (out + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        taps = [_pil_bicubic((x - center + 0.5) / filterscale) for x in range(lo, hi)]
        total = sum(taps)
        weights[out, lo:hi] = torch.tensor([t / total if total != 0 else t for t in taps], dtype=torch.float64)
    return weights


def resize_clean(pixels: torch.Tensor) -> torch.Tensor:
    """clean-fid's "clean" resize (make_resizer("PIL", False, "bicubic", (299, 299)): each channel a
    float image, PIL bicubic to 299x299, clipped to [0, 255]; grey repeated as RGB) computed as PIL
    does, a horizontal then a vertical pass summed in float64 and stored as float32, but as two
    matrix products on the pixels' device. The sums' order differs from PIL's, so a few pixels per
    million land one float32 step away (tests); on a GPU no CPU-bound per-image loop stands in front
    of Inception (PIL on 16 threads fed it ~850 img/s)."""
    _, channels, height, width = pixels.shape
    across = _pil_weights(width, CLEAN_SIZE).to(pixels.device)
    down = _pil_weights(height, CLEAN_SIZE).to(pixels.device)
    rows = (pixels.double() @ across.T).float()
    out = (down @ rows.double()).float().clamp_(0.0, 255.0)
    return out.expand(-1, 3, -1, -1) if channels == 1 else out


@torch.no_grad()
def extract(source: FeatureSource, images: torch.Tensor, batch_size: int = 500,
            device: torch.device | str = "cpu") -> np.ndarray:
    """Features (N, D) of images in [-1, 1], resized on the device as the source's resize mode says;
    on the CPU, clean batches stay at CLEAN_BATCH images (the 299x299 activations' memory)."""
    device = torch.device(device)
    if source.resize == "clean" and device.type == "cpu":
        batch_size = min(batch_size, CLEAN_BATCH)
    feats = []
    for batch in images.split(batch_size):
        pixels = to_pixels(batch.to(device))
        if source.resize == "clean":
            pixels = resize_clean(pixels)
        feats.append(source.extractor(pixels).float().cpu().numpy())
    return np.concatenate(feats)


def gaussian_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance as clean-fid computes them."""
    return np.mean(feats, axis=0), np.cov(feats, rowvar=False)


def frechet(stats_a: tuple[np.ndarray, np.ndarray], stats_b: tuple[np.ndarray, np.ndarray], eps: float = 1e-6) -> float:
    """clean-fid's Fréchet distance between two (mu, sigma) pairs (cleanfid.fid.frechet_distance, the
    same steps), written out because clean-fid 0.1.35 passes scipy's `disp`, which newer scipy removed."""
    from scipy import linalg

    (mu1, sigma1), (mu2, sigma2) = stats_a, stats_b
    mu1, mu2, sigma1, sigma2 = np.atleast_1d(mu1), np.atleast_1d(mu2), np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise GanoptError(f"FID of statistics of different sizes: mean {mu1.shape} and covariance {sigma1.shape} "
                          f"vs mean {mu2.shape} and covariance {sigma2.shape} (the reference statistics were made "
                          "with another feature net: rerun the reference_stats rule)")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():  # a nearly singular product: clean-fid's diagonal offset
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise GanoptError(f"FID: the covariance square root has an imaginary part {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


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
    mu, sigma, kid_feats = blob["mu"], blob["sigma"], blob["kid_feats"]
    d = mu.shape[0] if mu.ndim == 1 else -1
    if sigma.shape != (d, d) or kid_feats.ndim != 2 or kid_feats.shape[1] != d:
        raise io.bad_file(path, f"holds statistics of mismatched shapes: mean {mu.shape}, covariance {sigma.shape}, "
                          f"KID features {kid_feats.shape} (d features need (d,), (d, d) and (n, d))", fix)
    return Reference(mu, sigma, kid_feats, meta)


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

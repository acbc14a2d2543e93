"""Mode collapse on real data: class coverage of generated images through the domain feature net's
classifier, as Unrolled GAN / VEEGAN / PacGAN count the modes of Stacked MNIST.

Each channel of an image with more channels than the classifier (stacked_digits: three digits in
three channels) is classified on its own and the tuple of classes is the mode (10^3 = 1000 modes);
otherwise the image's class is its mode (digits: 10). A mode is covered when at least `min_count`
samples are classified to it with confidence >= `min_confidence` (every channel); `kl_classes` is
KL(generated mode histogram || uniform) over the argmax modes of all samples (0: uniform)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganopt.config import schema_section
from ganopt.errors import ConfigError
from ganopt.metrics.features import DomainNet


@schema_section("fid.schema.yaml#/properties/classes")
@dataclass(frozen=True)
class ClassesConfig:
    """Class coverage of generated images (the `fid.classes` section)."""

    n_samples: int          # generated images classified per evaluated step
    min_count: int          # confident samples a class (mode) needs to count as covered
    min_confidence: float   # softmax probability a sample's class needs (in every channel)


@torch.no_grad()
def classify(net: DomainNet, images: torch.Tensor, batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes, confidences), both (N, K): K = 1, or one per channel when the classifier has one
    channel and the images have several."""
    n, channels = images.shape[:2]
    if channels != net.channels:
        if net.channels != 1:
            raise ConfigError(f"a {net.channels}-channel classifier cannot classify {channels}-channel images")
        images = images.flatten(0, 1).unsqueeze(1)
    device = next(net.parameters()).device
    probs = torch.cat([net(b.to(device)).softmax(1).cpu() for b in images.split(batch_size)])
    confidence, classes = probs.max(1)
    return classes.reshape(n, -1), confidence.reshape(n, -1)


def class_coverage(classes: torch.Tensor, confidence: torch.Tensor, n_labels: int,
                   cfg: ClassesConfig) -> dict[str, float]:
    """classes_covered, n_classes (n_labels ** K modes), kl_classes and classes_confident_frac of
    (N, K) predictions of a classifier with n_labels classes."""
    k = classes.shape[1]
    total = n_labels ** k
    modes = (classes * n_labels ** torch.arange(k - 1, -1, -1)).sum(1)
    confident = (confidence >= cfg.min_confidence).all(1)
    counts = torch.bincount(modes[confident], minlength=total)
    hist = torch.bincount(modes, minlength=total).double() / len(modes)
    seen = hist > 0
    return {"classes_covered": int((counts >= cfg.min_count).sum()),
            "n_classes": total,
            "kl_classes": float((hist[seen] * (hist[seen] * total).log()).sum()),
            "classes_confident_frac": float(confident.double().mean())}


def class_metrics(net: DomainNet, images: torch.Tensor, cfg: ClassesConfig) -> dict[str, float]:
    """Class coverage of generated images (N, C, H, W) in [-1, 1] under the domain classifier `net`."""
    classes, confidence = classify(net, images)
    return class_coverage(classes, confidence, net.head[1].out_features, cfg)

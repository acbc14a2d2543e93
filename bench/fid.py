"""Benchmark: FID of real digits (test vs train) through our path vs clean-fid's default compute
path, the same images and the same domain feature net, side by side in one run.

Ours: tensors in memory, native 8x8 size (and, for reference, with clean-fid's 299x299 resize).
clean-fid: `compute_fid(folder1, folder2, mode="clean", custom_feat_extractor=net)` on PNG folders
(PIL decode, bicubic resize to 299x299). Usage: python bench/fid.py [--n 100] [--threads 1]"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from ganopt.data import load_prepared, prepare_dataset
from ganopt.metrics.features import FeatureNetConfig, class_labels, load_domain, save_feature_net, train_feature_net
from ganopt.metrics.fid import extract, frechet, gaussian_stats, to_pixels


def domain_net(workdir: Path, data_dir: Path) -> Path:
    """A briefly trained domain net (the features only need to be the same on both paths)."""
    data = load_prepared(data_dir)
    labels, _ = class_labels(data_dir)
    cfg = FeatureNetConfig(epochs=3)
    net, _ = train_feature_net(data.train, labels, data.test, None, cfg)
    save_feature_net(workdir / "feature_net.pt", net, cfg, {})
    return workdir / "feature_net.pt"


def write_pngs(images: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True)
    pixels = to_pixels(images).round().to(torch.uint8)[:, 0].numpy()
    for i, img in enumerate(pixels):
        Image.fromarray(img, mode="L").save(folder / f"{i:05d}.png")


def timed(fn):  # noqa: ANN001, ANN201 - any zero-argument callable
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="images per set (test vs train)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from cleanfid.fid import compute_fid

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare_dataset("digits", None, work / "data")
        data = load_prepared(work / "data")
        a, b = data.test[:args.n], data.train[:args.n]
        source = load_domain(domain_net(work, work / "data"))
        write_pngs(a, work / "a")
        write_pngs(b, work / "b")
        n = len(a) + len(b)

        def ours(src):  # noqa: ANN001, ANN202
            return frechet(gaussian_stats(extract(src, a)), gaussian_stats(extract(src, b)))

        extract(source, a[:8])  # warm-up
        fid_native, t_native = timed(lambda: ours(source))
        fid_resized, t_resized = timed(lambda: ours(dataclasses.replace(source, resize="clean")))
        fid_clean, t_clean = timed(lambda: compute_fid(
            str(work / "a"), str(work / "b"), mode="clean", custom_feat_extractor=source.extractor,
            num_workers=0, batch_size=64, device=torch.device("cpu"), verbose=False))

    print(f"FID of digits test ({len(a)}) vs train ({len(b)}) images, domain features "
          f"(dim {source.extractor.net.embed.out_features}), {args.threads} thread(s), CPU")
    rows = [("ours, native 8x8 tensors", fid_native, t_native),
            ("ours, clean-fid resize to 299", fid_resized, t_resized),
            ("clean-fid compute_fid on PNG folders", fid_clean, t_clean)]
    for name, fid, seconds in rows:
        print(f"  {name:38s} FID {fid:9.3f}   {n / seconds:9.1f} images/s   {seconds:7.2f} s")
    print(f"  ratio ours (native) / clean-fid: {t_clean / t_native:.1f}x images/s; "
          f"ours with its resize / clean-fid: {t_clean / t_resized:.2f}x; "
          f"FID gap from PNG quantization at 299: {abs(fid_resized - fid_clean):.3g} "
          f"(relative {abs(fid_resized - fid_clean) / max(fid_clean, 1e-12):.1e})")


if __name__ == "__main__":
    main()

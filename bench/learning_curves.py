"""Learning curves of GAN runs, the measurements behind docs/budgets.md: one line of JSON per
(dataset, optimizer, lr, seed, step) with FID_domain and class coverage (digits, stacked_digits) or
the PacGAN mode metrics (ring8).

Trains in memory with the project's GanSession and scores with the project's metrics every
`--every` steps (the same latents at every step). Needs a prepared dataset and, for images, the
domain feature net and its reference statistics (`ganopt prepare-data`, `feature-net`,
`reference-stats`). Example, one core:

    OMP_NUM_THREADS=1 python bench/learning_curves.py --dataset ring8 --data results/data/ring8 \\
        --optimizers adam sgda --seeds 100 101 102 --steps 6000 --every 500 --out curves.jsonl"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from ganopt.config import from_dict
from ganopt.data import load_prepared
from ganopt.gan.checkpoint import sample
from ganopt.gan.session import GanSession, RunSpec, TrainConfig, optimizer_kwargs
from ganopt.metrics.fid import FidConfig, ModesConfig

EVAL_SEED = 0


def scorer(data_dir: str, feature_dir: str | None, n_samples: int, min_count: int, fid_samples: int):
    """A function of a generator's samples -> metrics, and the number of samples it wants."""
    data = load_prepared(data_dir)
    if data.kind == "points":
        from ganopt.metrics.modes import mode_metrics

        centers = torch.tensor(data.meta["centers"])
        modes = ModesConfig(n_samples=n_samples, min_share=min_count * len(centers) / n_samples)
        return data, lambda x: mode_metrics(x, centers, data.meta["std"], data.train, modes)
    from ganopt.metrics.classes import ClassesConfig, class_metrics
    from ganopt.metrics.features import load_domain
    from ganopt.metrics.fid import extract, load_reference, score

    source = load_domain(Path(feature_dir) / "feature_net.pt")
    ref = load_reference(Path(feature_dir) / "ref_stats_domain.npz")
    cfg, classes = FidConfig(), ClassesConfig(n_samples=n_samples, min_count=min_count)
    return data, lambda x: (score(extract(source, x[:fid_samples]), source, ref, cfg)
                            | class_metrics(source.extractor.net, x, classes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--features", help="folder with feature_net.pt and ref_stats_domain.npz (images)")
    parser.add_argument("--config", default="config.yaml", help="study config: train section and step sizes")
    parser.add_argument("--optimizers", nargs="+", required=True)
    parser.add_argument("--lrs", nargs="*", type=float, default=[], help="step sizes (default: the config's)")
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--n-samples", type=int, default=2500)
    parser.add_argument("--fid-samples", type=int, default=2000, help="images: samples of the FID")
    parser.add_argument("--min-count", type=int, default=20,
                        help="high-quality points (mixtures) or confident samples (images) a covered mode needs")
    parser.add_argument("--train", default="{}", help="JSON overrides of the train section (batch_size, net)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    study = yaml.safe_load(Path(args.config).read_text())["gan"]
    section = study["datasets"][args.dataset]
    train_dict = section["train"] | json.loads(args.train)
    train_dict["net"] = section["train"]["net"] | json.loads(args.train).get("net", {})
    train = from_dict(TrainConfig, train_dict | {"steps": args.steps}, where="train")
    data, measure = scorer(args.data, args.features, args.n_samples, args.min_count, args.fid_samples)
    for opt in args.optimizers:
        lrs = args.lrs or [section["optimizers"][opt]["lr_g"]]
        for lr, seed in ((lr, seed) for lr in lrs for seed in args.seeds):
            spec = RunSpec(opt, lr, lr, seed, train, optimizer_kwargs(study.get("hparams", {}).get(opt, {})))
            session, start = GanSession([spec], data, torch.device("cpu")), time.perf_counter()
            while session.step < args.steps:
                (reason,) = session.run(session.step + args.every)
                samples = sample(session.seed(0).G, args.n_samples, EVAL_SEED)
                row = {"dataset": args.dataset, "optimizer": opt, "lr": lr, "seed": seed, "step": session.step,
                       "train": json.loads(args.train), "sec": round(time.perf_counter() - start, 1)}
                row |= measure(samples) if reason is None and torch.isfinite(samples).all() else {"diverged": True}
                with open(args.out, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
                if "diverged" in row:
                    break


if __name__ == "__main__":
    main()

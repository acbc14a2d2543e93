"""Checkpoint files of a GAN run: generator snapshots and final checkpoints (what later stages
load with `load_generator`/`sample`), and the resume state of an unfinished run.

All are written atomically and read with `weights_only=True`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ganopt import io
from ganopt.errors import BadFileError
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.nets import Generator, build_pair


def generator_record(net: NetConfig, shape: tuple[int, ...], G: torch.nn.Module, step: int) -> dict:
    """What rebuilds G: its architecture, the data shape and the weights (at `step`)."""
    return {"net": dataclasses.asdict(net), "shape": list(shape), "G": G.state_dict(), "step": step}


def load_generator(path: str | Path, device: str | torch.device = "cpu", like: dict | None = None) -> Generator:
    """The generator of a final checkpoint.pt or a snapshots/step<N>.pt, in eval mode; `like` ({"net":
    NetConfig fields, "shape": data shape}, either) is its run's architecture, which it must have."""
    fix = "delete it and rerun the train_gan rule of this run (`ganopt train-gan`)"
    blob = io.read_torch(path, {"net": dict, "shape": list, "G": dict}, fix, map_location=device)
    differ = [f"{key} {blob[key]} here, {want} in its run" for key, want in (like or {}).items() if blob[key] != want]
    if differ:
        raise io.bad_file(path, f"is a generator of another architecture than its run ({'; '.join(differ)})",
                          "it is not this run's: delete it, or rerun the train_gan rule of this run")
    try:
        G, _ = build_pair(NetConfig(**blob["net"]), tuple(blob["shape"]))
        G.load_state_dict(blob["G"])
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:  # weights that do not fit the architecture
        raise io.bad_file(path, f"is not a ganopt generator checkpoint ({io.error_line(exc)})", fix) from None
    return G.to(device).eval()


@torch.no_grad()
def sample(G: Generator, n: int, seed: int, batch_size: int = 512) -> torch.Tensor:
    """n samples of G from latents drawn on the CPU with `seed` (same samples on any device), as CPU floats."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    chunks = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), G.z_dim, generator=gen)
        chunks.append(G(z.to(device)).float().cpu())
    return torch.cat(chunks) if chunks else torch.empty(0)


def load_resume(path: Path, fingerprint: str) -> tuple[dict | None, str]:
    """(state, message) of a resume checkpoint: state None when missing, unreadable or from another config."""
    if not path.exists():
        return None, "no resume checkpoint: starting fresh"
    try:
        state = io.read_torch(path, {"fingerprint": str, "session": dict}, fix="starting fresh")
    except BadFileError as exc:  # atomic writes leave no torn file after a kill, but a full disk can
        return None, f"unreadable resume checkpoint: {exc}"
    if state["fingerprint"] != fingerprint:
        return None, f"resume checkpoint '{path}' belongs to a different job config; starting fresh"
    return state, f"resuming from '{path}' at step {state['session']['step']}"


def save_resume(path: Path, fingerprint: str, session_state: dict, extra: dict) -> None:
    """Write the resume state (session + loop bookkeeping) atomically."""
    io.torch_save(path, {"fingerprint": fingerprint, "session": session_state, **extra})

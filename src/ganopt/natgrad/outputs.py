"""The files each natgrad experiment job writes, from its schema-filled config section (torch-free,
so the workflow can declare them at parse time)."""

from __future__ import annotations

GAN_RUN_COLUMNS = ("sigma_G_min", "sigma_D_min")  # per-run columns of the simple GAN the report carries
FIGURES = {"rps": ["V.png", "simplex.png", "sigma.png"], "gan": ["V.png", "sigma.png", "p.png"]}


def declared_outputs(experiment: str, section: dict) -> list[str]:
    """A CSV per method, the flow check (flow.csv), summary.json and the figures (warm-up: one V(t)
    figure per player)."""
    figures = [f"V_{p}.png" for p in section["players"]] if experiment == "warmup" else FIGURES[experiment]
    return [f"{m}.csv" for m in section["methods"]] + ["flow.csv", "summary.json", *figures]

"""The tables of docs/budgets.md from bench/learning_curves.py output: per (optimizer, lr) the median
over seeds of the ranking metric at each step, and the share of runs that plateau at a budget.

A run plateaus at budget T when the mean of its metric over the evaluations in (0.75 T, T]
improves by less than `--tol` (relative) on the mean over (0.5 T, 0.75 T] (window means, as single
evaluations of these small GANs swing by 20%): FID_domain falls by less than tol of the earlier
mean; ring8's modes covered rise by less than tol of max(earlier mean, 1).
Usage: python bench/curves_table.py curves.jsonl [--steps 1500 3000 5000] [--tol 0.1]"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def load(paths: list[Path]) -> dict[str, dict[tuple[str, float], dict[int, dict[int, dict | None]]]]:
    """dataset -> (optimizer, lr) -> seed -> step -> row (None once diverged)."""
    runs: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            runs[row["dataset"]][(row["optimizer"], row["lr"])][row["seed"]][row["step"]] = (
                None if row.get("diverged") else row)
    return runs


def improvement(run: dict[int, dict | None], budget: int) -> float | None:
    """Relative gain of the ranking metric from (0.5 T, 0.75 T] to (0.75 T, T]; inf if the run diverged
    by T, None if it has no evaluation in a window."""
    windows = [[row for step, row in run.items() if lo * budget < step <= hi * budget] for lo, hi in
               ((0.5, 0.75), (0.75, 1.0))]
    if budget not in run or not all(windows):
        return None
    if any(row is None for window in windows for row in window):
        return float("inf")
    fid = "fid_domain" in windows[1][0]
    before, after = (statistics.mean(row["fid_domain" if fid else "modes_covered"] for row in window)
                     for window in windows)
    return (before - after) / before if fid else (after - before) / max(before, 1)


def cell(rows: list[dict | None]) -> str:
    if "fid_domain" in next((r for r in rows if r), {"fid_domain": 0}):
        fids = [r["fid_domain"] if r else float("inf") for r in rows]
        return f"{statistics.median(fids):.0f}"
    modes = [r["modes_covered"] if r else 0 for r in rows]
    hq = [r["high_quality_frac"] if r else 0.0 for r in rows]
    return f"{statistics.median(modes):g} ({sum(m >= 7 for m in modes)}/{len(modes)}) {statistics.median(hq):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--steps", nargs="+", type=int, default=[1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000])
    parser.add_argument("--budgets", nargs="+", type=int, default=[1500, 3000, 4000, 5000, 6000, 8000])
    parser.add_argument("--tol", type=float, default=0.1)
    args = parser.parse_args()
    for dataset, groups in load(args.files).items():
        print(f"\n{dataset}\n\n| optimizer | lr | seeds | " + " | ".join(map(str, args.steps)) + " |")
        print("|---" * (3 + len(args.steps)) + "|")
        for (opt, lr), seeds in groups.items():
            cells = []
            for step in args.steps:
                rows = [run[step] for run in seeds.values() if step in run]
                cells.append(f"{cell(rows)} n{len(rows)}" if rows else "")
            print(f"| {opt} | {lr:g} | {','.join(map(str, seeds))} | " + " | ".join(cells) + " |")
        print(f"\nplateaued runs (gain < {args.tol:g} over the last quarter)\n")
        print("| optimizer | lr | " + " | ".join(map(str, args.budgets)) + " |")
        print("|---" * (2 + len(args.budgets)) + "|")
        for (opt, lr), seeds in groups.items():
            cells = []
            for budget in args.budgets:
                gains = [g for g in (improvement(run, budget) for run in seeds.values()) if g is not None]
                cells.append(f"{sum(g < args.tol for g in gains)}/{len(gains)}" if gains else "")
            print(f"| {opt} | {lr:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""`ganopt <command> --config JSON --out DIR`: what each Snakemake rule calls, usable by hand.

Each command maps to one library function taking the job's config (a dict, given inline as
JSON or as a path to a .json/.yaml file) and its output folder."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import sys
from pathlib import Path
from typing import Callable

from ganopt import lifeline
from ganopt.errors import GanoptError

# command -> ("module:function", one-line help). The function takes (job: dict, out: Path).
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare-data": ("ganopt.data:prepare_data_job", "build one dataset's tensors and manifest"),
    "tune-lr": ("ganopt.gan.tune:tune_lr_job", "pick one optimizer's step sizes on the tuning seeds"),
    "train-gan": ("ganopt.gan.train:train_gan_job", "train the seeds of one (dataset, optimizer) as one batched model"),
    "natgrad-warmup": ("ganopt.natgrad.jobs:natgrad_warmup_job", "matching pennies: natural gradient vs GDA"),
    "natgrad-rps": ("ganopt.natgrad.jobs:natgrad_rps_job", "Rock-Paper-Scissors: natural gradient vs GDA"),
    "natgrad-gan": ("ganopt.natgrad.jobs:natgrad_gan_job", "finite-support GAN: natural gradient vs GDA and Adam"),
    "natgrad-flow": ("ganopt.natgrad.flow_report:natgrad_flow_job", "natural gradient as a flow: every setting's checks side by side"),
    "toy-theorem": ("ganopt.toy.job:toy_theorem_job", "two-mode toy: one optimizer, all seeds batched"),
    "toy-compare": ("ganopt.toy.job:toy_compare_job", "two-mode toy: every optimizer side by side"),
    "toy-tune": ("ganopt.toy.job:toy_tune_job", "two-mode toy: one optimizer's step-size grid on the tuning seeds"),
    "feature-net": ("ganopt.metrics.features:feature_net_job", "train a dataset's domain feature net for FID"),
    "reference-stats": ("ganopt.metrics.fid:reference_stats_job", "FID reference statistics of one feature source"),
    "compute-fid": ("ganopt.gan.evaluate:compute_fid_job", "FID/KID or mode metrics of the seeds of one (dataset, optimizer)"),
    "aggregate": ("ganopt.report.jobs:aggregate_job", "the study's tables and claims table from the runs"),
    "figures": ("ganopt.report.jobs:figures_job", "the study's figures from the runs and stages"),
    "study-report": ("ganopt.report.jobs:study_report_job", "report.md and the study's parent MLflow run"),
}


def _load_job(text: str) -> dict:
    """Inline JSON, or a path to a JSON/YAML file holding the job config (a mapping)."""
    if text.lstrip().startswith("{"):
        source, parse = "inline JSON", json.loads
    else:
        path = Path(text)
        if not text.strip() or not path.is_file():
            raise GanoptError(f"--config '{text}' is neither inline JSON nor an existing file")
        if path.suffix in (".yaml", ".yml"):
            from ganopt.config_file import read_config_file

            source, parse, text = f"file '{path}'", read_config_file, str(path)  # the study configs' reader
        else:
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise GanoptError(f"--config file '{path}' cannot be read as text ({type(exc).__name__})") from None
            source, parse = f"file '{path}'", json.loads
    try:
        job = parse(text)
    except json.JSONDecodeError as exc:
        raise GanoptError(f"--config is not valid JSON ({source}: {' '.join(str(exc).split())})") from None
    except RecursionError:
        raise GanoptError(f"--config ({source}) is nested too deep to be a job config") from None
    if not isinstance(job, dict):
        raise GanoptError(f"--config ({source}) must hold a mapping of job settings, not a {type(job).__name__}")
    return job


def _error(command: str, message: str) -> int:
    """Print the one error line; when stderr cannot take it (a job's log on a full disk), the
    terminal, if there is one. Returns the exit status."""
    line = f"ganopt {command}: error: {' '.join(message.split())}\n"
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except OSError:
        try:
            with open("/dev/tty", "w") as tty:
                tty.write(line)
        except OSError:
            pass  # no terminal: the exit status and Snakemake's report of the failed job remain
    return 2


def _resolve(target: str) -> Callable[[dict, Path], object]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganopt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--config", required=True, help="job config: inline JSON or a .json/.yaml file")
        cmd.add_argument("--out", required=True, type=Path, help="output folder of the job")
        cmd.add_argument("--timing", type=Path, help="write the job's timing record (ganopt.timing) to this JSON file")
    check = sub.add_parser("validate-config", help="check a study config as the workflow does: schema, numbers, "
                           "cross-key rules, tracking store")
    check.add_argument("path", type=Path, nargs="+", help="config file(s), merged in order (as snakemake --configfile)")
    check.add_argument("--config", nargs="+", default=[], metavar="SECTION=VALUE",
                       help="overrides as snakemake --config takes them, values in YAML: toy={steps: 3}")
    sync = sub.add_parser("sync-tracking", help="write the runs recorded by jobs into the MLflow store")
    sync.add_argument("--config", default="config.yaml",
                      help="the study config, or a job config, whose `tracking` section names journal and store")
    move = sub.add_parser("relocate-study", help="after moving or copying results/, point MLflow at its artifacts")
    move.add_argument("results", type=Path, nargs="?", default=Path("results"), help="the study's results folder")
    move.add_argument("--store", type=Path, help="its MLflow sqlite file (default: RESULTS/mlflow.db)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate-config":
            from ganopt.study import study_config

            study_config(args.path, args.config)
            print(f"{' '.join(map(str, args.path))}: ok")
            return 0
        if args.command == "relocate-study":
            from ganopt.relocate import relocate_study

            moves = relocate_study(args.results, args.store)
            print("\n".join(f"{old} -> {new}" for old, new in moves.items()) or "artifact locations already in place")
            return 0
        job = _load_job(args.config)
        if args.command == "sync-tracking":
            from ganopt.config import from_dict
            from ganopt.mlflow_sync import sync_journals
            from ganopt.tracking import TrackingConfig

            cfg = from_dict(TrackingConfig, job.get("tracking", {}), where="tracking")
            print(f"tracking: {sync_journals(cfg)} run(s) written from {cfg.journal} to {cfg.uri}")
            return 0
        lifeline.watch()
        _resolve(COMMANDS[args.command][0])(job, args.out)
        if args.timing:
            from ganopt import timing

            timing.write(args.timing, args.command)
    except GanoptError as exc:
        return _error(args.command, str(exc))
    except OSError as exc:  # a missing input, or a write no writer above named (its output folder, then)
        from ganopt.io import os_error_line

        where = exc.filename if exc.filename is not None else getattr(args, "out", None) or "?"
        line = os_error_line(exc, where) if exc.errno != errno.ENOENT else (
            f"'{where}': {exc.strerror}: check --config and --out, and run the rules that make this command's "
            "inputs first")
        return _error(args.command, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

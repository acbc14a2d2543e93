# Config validation (before any job), wildcard constraints, job-config and target helpers.
import json
import sys
from pathlib import Path

from ganopt.config import validate_config
from ganopt.errors import ConfigError
from ganopt.natgrad.outputs import declared_outputs
from ganopt.tracking import TrackingConfig, ensure_experiment

try:
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas")
except ConfigError as exc:
    sys.exit(f"ganopt: {exc}")


wildcard_constraints:
    dataset="|".join(config["data"]),
    seed=r"\d+",


def job_json(**parts):
    """One job's config as compact JSON for `ganopt <command> --config`, tracking included."""
    return json.dumps(
        {"tracking": config["tracking"], "device": config["device"], **parts},
        sort_keys=True,
        separators=(",", ":"),
    )


def get_prepare_data_job(wildcards):
    return job_json(dataset=wildcards.dataset, data=config["data"][wildcards.dataset] or {})


def natgrad_outputs(experiment):
    """Files of one natgrad experiment job (ganopt.natgrad.jobs.declared_outputs)."""
    names = declared_outputs(experiment, config["natgrad"][experiment])
    return [f"results/natgrad/{experiment}/{name}" for name in names]


def get_natgrad_job(experiment):
    return job_json(**config["natgrad"][experiment])


def natgrad_targets():
    if not config["natgrad"]["activate"]:
        return []
    return [path for experiment in ("warmup", "rps", "gan") for path in natgrad_outputs(experiment)]


def data_targets():
    return expand("results/data/{dataset}/manifest.json", dataset=list(config["data"]))


def get_toy_theorem_job(wildcards):
    toy = config["toy"]
    settings = {k: v for k, v in toy.items() if k not in ("activate", "optimizers")}
    return job_json(
        optimizer=wildcards.optimizer,
        toy={**settings, "lrs": toy["optimizers"][wildcards.optimizer]["lrs"]},
    )


def get_toy_compare_job(wildcards):
    toy = config["toy"]
    return job_json(
        optimizers=list(toy["optimizers"]),
        recover_cos=toy["recover_cos"],
        both_modes_min=toy["both_modes_min"],
    )


def toy_theorem_outputs():
    return expand(
        "results/toy/{optimizer}.{ext}",
        optimizer=list(config["toy"]["optimizers"]),
        ext=["csv", "png", "json"],
    )


def toy_targets():
    if not config["toy"]["activate"]:
        return []
    return toy_theorem_outputs() + ["results/toy/compare.png", "results/toy/summary.csv"]


onstart:
    # Create the MLflow store and experiment once, before parallel jobs race to do it.
    ensure_experiment(TrackingConfig(**config["tracking"]))

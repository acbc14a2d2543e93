# Config validation (before any job), wildcard constraints, job-config and target helpers.
import json
import sys
from pathlib import Path

from ganopt.config import validate_config
from ganopt.errors import ConfigError
from ganopt.natgrad.outputs import declared_outputs
from ganopt.optim import OPTIMIZERS
from ganopt.tune import check_gan_section
from ganopt.tracking import TrackingConfig, ensure_experiment

try:
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas")
    if "gan" in config:
        check_gan_section(config)
except ConfigError as exc:
    sys.exit(f"ganopt: {exc}")


# Every job knows the Snakemake running it, so a job orphaned by a killed Snakemake stops (ganopt.lifeline).
shell.prefix("set -euo pipefail; export GANOPT_WORKFLOW_PID=$PPID; ")


wildcard_constraints:
    dataset="|".join(config["data"]),
    seed=r"\d+",
    optimizer="|".join(OPTIMIZERS),


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


def gan_run_parts(wildcards):
    """Job parts shared by tune_lr and train_gan: dataset, optimizer, data, settings, hparams."""
    return {
        "dataset": wildcards.dataset,
        "optimizer": wildcards.optimizer,
        "data_dir": f"results/data/{wildcards.dataset}",
        "train": config["gan"]["datasets"][wildcards.dataset]["train"],
        "hparams": config["gan"]["hparams"].get(wildcards.optimizer, {}),
    }


def get_step_sizes(wildcards):
    return config["gan"]["datasets"][wildcards.dataset]["optimizers"][wildcards.optimizer]


def get_tune_lr_job(wildcards):
    steps = get_step_sizes(wildcards)
    tune = config["gan"]["tune"]
    return job_json(
        **gan_run_parts(wildcards),
        grid=steps["grid"] or [[steps["lr_g"], steps["lr_d"]]],
        seeds=tune["seeds"],
        eval_samples=tune["eval_samples"],
    )


def tune_best_path(wildcards):
    return f"results/tune/{wildcards.dataset}/{wildcards.optimizer}/best.json"


def get_train_gan_input(wildcards):
    inputs = {"data": f"results/data/{wildcards.dataset}/manifest.json"}
    if config["gan"]["tune"]["activate"]:
        inputs["best"] = tune_best_path(wildcards)
    return inputs


def get_train_gan_job(wildcards):
    steps = get_step_sizes(wildcards)
    tuned = config["gan"]["tune"]["activate"]
    return job_json(
        **gan_run_parts(wildcards),
        seed=int(wildcards.seed),
        lr_g=steps["lr_g"],
        lr_d=steps["lr_d"],
        tune_best=tune_best_path(wildcards) if tuned else None,
        resume=f"results/state/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed}/resume.pt",
    )


def gan_targets():
    if "gan" not in config:
        return []
    return expand(
        "results/gan/{dataset}/{optimizer}/seed{seed}/status.json",
        dataset=list(config["gan"]["datasets"]),
        optimizer=config["gan"]["optimizers"],
        seed=config["gan"]["seeds"],
    )


def data_targets():
    return expand("results/data/{dataset}/manifest.json", dataset=list(config["data"]))


onstart:
    # Create the MLflow store and experiment once, before parallel jobs race to do it.
    ensure_experiment(TrackingConfig(**config["tracking"]))


# --- Study report (workflow/rules/report.smk; ganopt.report) -----------------------------------
from dataclasses import asdict

from ganopt.report.plan import study_plan


def report_upstream():
    """Every stage target the report reads (GAN runs and their FID, toy, natgrad)."""
    return gan_targets() + fid_targets() + toy_targets() + natgrad_targets()


def report_plan():
    return study_plan(config, report_upstream())


def get_report_job(wildcards):
    return job_json(plan=asdict(report_plan()))


def report_outputs(kind):
    """The plan's tables or figures, flagged for `snakemake --report` with their caption and category."""
    outputs = report_plan().tables() if kind == "tables" else report_plan().figures()
    flags = {o.path: dict(caption=f"../report/{o.caption}.rst", category=o.category, subcategory=o.subcategory)
             for o in outputs}
    return [report(path, **flag) for path, flag in flags.items()]


def report_targets():
    return ["results/report.md"]

# Config validation (before any job), wildcard constraints, job-config and target helpers.
import json
import sys
from pathlib import Path

from ganopt.config import validate_config
from ganopt.errors import ConfigError
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

# What every stage shares: the config check (before any job), the job shell prefix, wildcard
# constraints, job_json and the tracking sync when the workflow ends. Each stage's helpers:
# <stage>_functions.smk.
import json
import sys
from pathlib import Path

from ganopt.config import schema_node
from ganopt.study import study_config
from ganopt.errors import ConfigError

# The one check of the study config, the same as `ganopt validate-config FILE... --config ...`: the
# config files (config.yaml unless --configfile) and the --config entries are read by ganopt's
# reader (Snakemake types nested --config values as strings), merged, validated with defaults
# filled and the tracking store checked, before torch is even imported. The result replaces what
# Snakemake loaded (profiles/*/config.yaml have its loader use the same reader, so it reads nothing
# first); the API gives overrides as a mapping, the command line as `section=value` entries.
try:
    checked = study_config(
        workflow.overwrite_configfiles or [Path(workflow.basedir) / "config.yaml"],
        workflow.config_settings.config_args or workflow.config_settings.config,
        Path(workflow.basedir) / "workflow" / "schemas",
    )
except ConfigError as exc:
    sys.exit(f"ganopt: {exc}")
config.clear()
config.update(checked)


# Every job knows the Snakemake running it, so a job orphaned by a killed Snakemake stops (ganopt.lifeline).
shell.prefix("set -euo pipefail; export GANOPT_WORKFLOW_PID=$PPID; ")


wildcard_constraints:
    dataset="|".join(config["data"]),
    seed=r"\d+",
    # the registry's names as the schema lists them (ganopt.optim would import torch while parsing)
    optimizer="|".join(schema_node("gan.schema.yaml#/$defs/optimizer")[0]["enum"]),


def job_json(**parts):
    """One job's config as compact JSON for `ganopt <command> --config`, tracking included."""
    return json.dumps(
        {"tracking": config["tracking"], "device": config["device"], **parts},
        sort_keys=True,
        separators=(",", ":"),
    )


# Jobs record their runs in journals (ganopt.tracking); when the workflow ends, successful or not,
# the runs not yet in the MLflow store are written there (a no-op once the study report synced them).
# A store that cannot be used is one line; the runs wait in their journals for the next sync.
onsuccess:
    tracking_job = job_json()
    shell("ganopt sync-tracking --config {tracking_job:q} || true")


onerror:
    tracking_job = job_json()
    shell("ganopt sync-tracking --config {tracking_job:q} || true")

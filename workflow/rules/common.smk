# What every stage shares: the config check (before any job), the job shell prefix, wildcard
# constraints, job_json and the tracking sync when the workflow ends. Each stage's helpers:
# <stage>_functions.smk.
import json
import sys
from pathlib import Path

from ganopt.config import read_yaml, schema_node, validate_config
from ganopt.errors import ConfigError

# The one check of the study config, the same as `ganopt validate-config`: the config files are
# re-read strictly (Snakemake's loader lets a repeated key win silently), then the merged config
# (files plus --config overrides) is validated, defaults filled, before torch is even imported.
try:
    for path in workflow.configfiles:
        read_yaml(path)
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas")
except ConfigError as exc:
    sys.exit(f"ganopt: {exc}")


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
onsuccess:
    tracking_job = job_json()
    shell("ganopt sync-tracking --config {tracking_job:q}")


onerror:
    tracking_job = job_json()
    shell("ganopt sync-tracking --config {tracking_job:q} || true")

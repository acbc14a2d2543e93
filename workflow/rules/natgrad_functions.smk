# Job configs, outputs and targets of the natgrad stage (workflow/rules/natgrad.smk).
from ganopt.natgrad.outputs import declared_outputs


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

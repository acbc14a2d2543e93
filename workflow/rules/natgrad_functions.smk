# Job configs, outputs and targets of the natgrad stage (workflow/rules/natgrad.smk).
from ganopt.natgrad.outputs import declared_outputs


def natgrad_outputs(experiment):
    """Files of one natgrad experiment job (ganopt.natgrad.jobs.declared_outputs)."""
    names = declared_outputs(experiment, config["natgrad"][experiment])
    return [f"results/natgrad/{experiment}/{name}" for name in names]


def get_natgrad_job(experiment):
    return job_json(**config["natgrad"][experiment])


NATGRAD_EXPERIMENTS = ("warmup", "rps", "gan")
NATGRAD_FLOW_OUTPUTS = ["results/natgrad/flow/monotone.csv", "results/natgrad/flow/monotone.png"]


def natgrad_flow_inputs():
    return [f"results/natgrad/{experiment}/flow.csv" for experiment in NATGRAD_EXPERIMENTS]


def get_natgrad_flow_job(wildcards):
    return job_json(inputs=natgrad_flow_inputs())


def natgrad_targets():
    if not config["natgrad"]["activate"]:
        return []
    experiments = [path for experiment in NATGRAD_EXPERIMENTS for path in natgrad_outputs(experiment)]
    return experiments + NATGRAD_FLOW_OUTPUTS

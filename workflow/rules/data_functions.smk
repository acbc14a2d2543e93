# Job configs and targets of the data stage (workflow/rules/data.smk), kept apart from the
# rules as snakemake --lint asks.


def get_prepare_data_job(wildcards):
    return job_json(dataset=wildcards.dataset, data=config["data"][wildcards.dataset] or {})


def data_targets():
    return expand("results/data/{dataset}/manifest.json", dataset=list(config["data"]))

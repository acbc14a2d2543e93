# Input/param functions and targets of the FID stage (workflow/rules/fid.smk); kept apart from the
# rules, as snakemake --lint asks.
from ganopt.dataconfig import is_mixture


wildcard_constraints:
    # the feature sources as the schema lists them (ganopt.metrics would import torch while parsing)
    source="|".join(schema_node("fid.schema.yaml#/properties/sources/items")[0]["enum"]),


def get_feature_net_job(wildcards):
    return job_json(
        dataset=wildcards.dataset,
        data_dir=f"results/data/{wildcards.dataset}",
        feature_net=config["fid"]["feature_net"],
    )


def get_reference_stats_input(wildcards):
    inputs = {"data": f"results/data/{wildcards.dataset}/manifest.json"}
    if wildcards.source == "domain":
        inputs["net"] = f"results/fid/{wildcards.dataset}/feature_net.pt"
    return inputs


def get_reference_stats_job(wildcards):
    return job_json(
        dataset=wildcards.dataset,
        source=wildcards.source,
        data_dir=f"results/data/{wildcards.dataset}",
        fid=config["fid"],
    )


def get_compute_fid_input(wildcards):
    """Inputs of scoring the runs of every seed: their status.json (written last), data, features."""
    runs = [f"results/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{seed}" for seed in config["gan"]["seeds"]]
    inputs = {
        "status": [f"{run}/status.json" for run in runs],
        "data": f"results/data/{wildcards.dataset}/manifest.json",
    }
    if not is_mixture(wildcards.dataset):
        inputs["refs"] = expand(
            "results/fid/{dataset}/ref_stats_{source}.npz",
            dataset=wildcards.dataset,
            source=config["fid"]["sources"],
        )
        if "domain" in config["fid"]["sources"]:
            inputs["net"] = f"results/fid/{wildcards.dataset}/feature_net.pt"
    return inputs


def get_compute_fid_job(wildcards):
    return job_json(
        dataset=wildcards.dataset,
        optimizer=wildcards.optimizer,
        seeds=config["gan"]["seeds"],
        data_dir=f"results/data/{wildcards.dataset}",
        feature_dir=f"results/fid/{wildcards.dataset}",
        fid=config["fid"],
    )


def fid_targets():
    if not config["fid"]["activate"] or "gan" not in config:
        return []
    return expand(
        "results/gan/{dataset}/{optimizer}/seed{seed}/fid.json",
        dataset=list(config["gan"]["datasets"]),
        optimizer=config["gan"]["optimizers"],
        seed=config["gan"]["seeds"],
    )

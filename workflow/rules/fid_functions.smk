# Input/param functions and targets of the FID stage (workflow/rules/fid.smk); kept apart from the
# rules, as snakemake --lint asks.
from ganopt.config import from_dict
from ganopt.data import DATASETS, MixtureConfig
from ganopt.metrics.features import SOURCES
from ganopt.metrics.fid import FidConfig

try:
    FID = from_dict(FidConfig, config["fid"], where="fid")
except ConfigError as exc:
    sys.exit(f"ganopt: {exc}")


wildcard_constraints:
    source="|".join(SOURCES),


def is_mixture(dataset):
    return DATASETS[dataset].config is MixtureConfig


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
    run = f"results/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed}"
    inputs = {"status": f"{run}/status.json", "data": f"results/data/{wildcards.dataset}/manifest.json"}
    if not is_mixture(wildcards.dataset):
        inputs["refs"] = expand(
            "results/fid/{dataset}/ref_stats_{source}.npz", dataset=wildcards.dataset, source=FID.sources
        )
        if "domain" in FID.sources:
            inputs["net"] = f"results/fid/{wildcards.dataset}/feature_net.pt"
    return inputs


def get_compute_fid_job(wildcards):
    return job_json(
        dataset=wildcards.dataset,
        optimizer=wildcards.optimizer,
        seed=int(wildcards.seed),
        data_dir=f"results/data/{wildcards.dataset}",
        feature_dir=f"results/fid/{wildcards.dataset}",
        fid=config["fid"],
    )


def fid_targets():
    if not FID.activate or "gan" not in config:
        return []
    return expand(
        "results/gan/{dataset}/{optimizer}/seed{seed}/fid.json",
        dataset=list(config["gan"]["datasets"]),
        optimizer=config["gan"]["optimizers"],
        seed=config["gan"]["seeds"],
    )

# FID stage (ganopt.metrics): per image dataset a domain feature net and reference statistics per
# feature source; per training run fid.json (FID/KID for images, mode metrics for 2-D mixtures).
from ganopt.config import from_dict
from ganopt.data import DATASETS, MixtureConfig
from ganopt.metrics.features import SOURCES
from ganopt.metrics.fid import FidConfig

try:
    FID = from_dict(FidConfig, config.get("fid", {}), where="fid")  # the dataclass holds the defaults
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
        feature_net=config.get("fid", {}).get("feature_net", {}),
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
        fid=config.get("fid", {}),
    )


def get_compute_fid_input(wildcards):
    run = f"results/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed}"
    inputs = {"status": f"{run}/status.json", "data": f"results/data/{wildcards.dataset}/manifest.json"}
    if not is_mixture(wildcards.dataset):
        inputs["refs"] = expand("results/fid/{dataset}/ref_stats_{source}.npz", dataset=wildcards.dataset,
                                source=FID.sources)
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
        fid=config.get("fid", {}),
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


rule feature_net:
    input:
        data="results/data/{dataset}/manifest.json",
    output:
        net="results/fid/{dataset}/feature_net.pt",
    params:
        job=get_feature_net_job,
    log:
        "results/logs/feature_net/{dataset}.log",
    benchmark:
        "results/benchmarks/feature_net/{dataset}.tsv"
    threads: 1
    conda:
        "../../envs/fid.yaml"
    shell:
        "ganopt feature-net --config {params.job:q} --out results/fid/{wildcards.dataset} > {log} 2>&1"


rule reference_stats:
    input:
        unpack(get_reference_stats_input),
    output:
        stats="results/fid/{dataset}/ref_stats_{source}.npz",
    params:
        job=get_reference_stats_job,
    log:
        "results/logs/reference_stats/{dataset}/{source}.log",
    benchmark:
        "results/benchmarks/reference_stats/{dataset}/{source}.tsv"
    threads: 1
    conda:
        "../../envs/fid.yaml"
    shell:
        "ganopt reference-stats --config {params.job:q} --out results/fid/{wildcards.dataset} > {log} 2>&1"


# Input is the run's status.json (train_gan writes it last); fid.json goes beside the run's outputs.
rule compute_fid:
    input:
        unpack(get_compute_fid_input),
    output:
        fid="results/gan/{dataset}/{optimizer}/seed{seed}/fid.json",
    params:
        job=get_compute_fid_job,
    log:
        "results/logs/compute_fid/{dataset}/{optimizer}/seed{seed}.log",
    benchmark:
        "results/benchmarks/compute_fid/{dataset}/{optimizer}/seed{seed}.tsv"
    threads: 1
    conda:
        "../../envs/fid.yaml"
    shell:
        "ganopt compute-fid --config {params.job:q} --out results/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed} > {log} 2>&1"

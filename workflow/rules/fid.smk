# FID stage (ganopt.metrics; compute_fid: ganopt.gan.evaluate): per image dataset a domain feature net and reference statistics per
# feature source; per training run fid.json (FID/KID for images, mode metrics for 2-D mixtures).
# Functions and wildcard constraints: workflow/rules/fid_functions.smk.


rule feature_net:
    input:
        data="results/data/{dataset}/manifest.json",
    output:
        net="results/fid/{dataset}/feature_net.pt",
    log:
        "results/logs/feature_net/{dataset}.log",
    conda:
        "../../envs/fid.yaml"
    threads: 1
    params:
        job=get_feature_net_job,
    shell:
        "ganopt feature-net --config {params.job:q} --out results/fid/{wildcards.dataset}"
        " --timing results/benchmarks/feature_net/{wildcards.dataset}.json > {log} 2>&1"


rule reference_stats:
    input:
        unpack(get_reference_stats_input),
    output:
        stats="results/fid/{dataset}/ref_stats_{source}.npz",
    log:
        "results/logs/reference_stats/{dataset}/{source}.log",
    conda:
        "../../envs/fid.yaml"
    threads: 1
    params:
        job=get_reference_stats_job,
    shell:
        "ganopt reference-stats --config {params.job:q} --out results/fid/{wildcards.dataset}"
        " --timing results/benchmarks/reference_stats/{wildcards.dataset}/{wildcards.source}.json > {log} 2>&1"


# The seeds of a (dataset, optimizer) are scored in one job (feature nets and references loaded
# once); inputs are the runs' status.json (train_gan writes it last); each fid.json goes beside its
# run's outputs.
rule compute_fid:
    input:
        unpack(get_compute_fid_input),
    output:
        fid=seed_outputs("fid.json"),
    log:
        "results/logs/compute_fid/{dataset}/{optimizer}.log",
    conda:
        "../../envs/fid.yaml"
    threads: 1
    params:
        job=get_compute_fid_job,
    shell:
        "ganopt compute-fid --config {params.job:q} --out results/gan/{wildcards.dataset}/{wildcards.optimizer}"
        " --timing results/benchmarks/compute_fid/{wildcards.dataset}/{wildcards.optimizer}.json > {log} 2>&1"

# Datasets: one job per dataset of the study (ganopt.data.prepare_dataset).


rule prepare_data:
    output:
        data="results/data/{dataset}/data.pt",
        manifest="results/data/{dataset}/manifest.json",
    log:
        "results/logs/prepare_data/{dataset}.log",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_prepare_data_job,
    shell:
        "ganopt prepare-data --config {params.job:q} --out results/data/{wildcards.dataset}"
        " --timing results/benchmarks/prepare_data/{wildcards.dataset}.json > {log} 2>&1"

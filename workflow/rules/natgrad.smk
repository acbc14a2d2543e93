# Natural-gradient flows in hidden convex-concave games (ganopt.natgrad): one job per experiment,
# each writing results/natgrad/<experiment>/<method>.csv, figures and summary.json.

rule natgrad_warmup:
    output:
        natgrad_outputs("warmup"),
    params:
        job=get_natgrad_job("warmup"),
    log:
        "results/logs/natgrad_warmup/natgrad_warmup.log",
    benchmark:
        "results/benchmarks/natgrad_warmup/natgrad_warmup.tsv"
    threads: 1
    conda:
        "../../envs/natgrad.yaml"
    shell:
        "ganopt natgrad-warmup --config {params.job:q} --out results/natgrad/warmup > {log} 2>&1"


rule natgrad_rps:
    output:
        natgrad_outputs("rps"),
    params:
        job=get_natgrad_job("rps"),
    log:
        "results/logs/natgrad_rps/natgrad_rps.log",
    benchmark:
        "results/benchmarks/natgrad_rps/natgrad_rps.tsv"
    threads: 1
    conda:
        "../../envs/natgrad.yaml"
    shell:
        "ganopt natgrad-rps --config {params.job:q} --out results/natgrad/rps > {log} 2>&1"


rule natgrad_gan:
    output:
        natgrad_outputs("gan"),
    params:
        job=get_natgrad_job("gan"),
    log:
        "results/logs/natgrad_gan/natgrad_gan.log",
    benchmark:
        "results/benchmarks/natgrad_gan/natgrad_gan.tsv"
    threads: 1
    conda:
        "../../envs/natgrad.yaml"
    shell:
        "ganopt natgrad-gan --config {params.job:q} --out results/natgrad/gan > {log} 2>&1"

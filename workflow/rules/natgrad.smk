# Natural-gradient flows in hidden convex-concave games (ganopt.natgrad): one job per experiment,
# each writing results/natgrad/<experiment>/<method>.csv, flow.csv (natural gradient as a flow),
# figures and summary.json; natgrad_flow puts every setting's flow check side by side
# (results/natgrad/flow/monotone.csv|png).


rule natgrad_warmup:
    output:
        natgrad_outputs("warmup"),
    log:
        "results/logs/natgrad_warmup/natgrad_warmup.log",
    conda:
        "../../envs/natgrad.yaml"
    threads: 1
    params:
        job=get_natgrad_job("warmup"),
    shell:
        "ganopt natgrad-warmup --config {params.job:q} --out results/natgrad/warmup"
        " --timing results/benchmarks/natgrad_warmup/natgrad_warmup.json > {log} 2>&1"


rule natgrad_rps:
    output:
        natgrad_outputs("rps"),
    log:
        "results/logs/natgrad_rps/natgrad_rps.log",
    conda:
        "../../envs/natgrad.yaml"
    threads: 1
    params:
        job=get_natgrad_job("rps"),
    shell:
        "ganopt natgrad-rps --config {params.job:q} --out results/natgrad/rps"
        " --timing results/benchmarks/natgrad_rps/natgrad_rps.json > {log} 2>&1"


rule natgrad_gan:
    output:
        natgrad_outputs("gan"),
    log:
        "results/logs/natgrad_gan/natgrad_gan.log",
    conda:
        "../../envs/natgrad.yaml"
    threads: 1
    params:
        job=get_natgrad_job("gan"),
    shell:
        "ganopt natgrad-gan --config {params.job:q} --out results/natgrad/gan"
        " --timing results/benchmarks/natgrad_gan/natgrad_gan.json > {log} 2>&1"


rule natgrad_flow:
    input:
        natgrad_flow_inputs(),
    output:
        NATGRAD_FLOW_OUTPUTS,
    log:
        "results/logs/natgrad_flow/natgrad_flow.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        job=get_natgrad_flow_job,
    shell:
        "ganopt natgrad-flow --config {params.job:q} --out results/natgrad/flow"
        " --timing results/benchmarks/natgrad_flow/natgrad_flow.json > {log} 2>&1"

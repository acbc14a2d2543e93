# Toy theorem (ganopt.toy): one job per optimizer (every d with its per-d step sizes; per d, the
# u_cos settings and seeds run batched), then each run's events (seeds.csv), the per-d summary
# (sweep.csv) that the claims table reads, and the figures (compare.png, phase.png). toy_tune (not
# in the default targets: `snakemake results/toy/tune/sgda.csv`) reruns the step-size choice on the
# tuning seeds. Functions: workflow/rules/toy_functions.smk.


rule toy_theorem:
    output:
        csv="results/toy/{optimizer}.csv",
        figure="results/toy/{optimizer}.png",
        summary="results/toy/{optimizer}.json",
    log:
        "results/logs/toy_theorem/{optimizer}.log",
    wildcard_constraints:
        optimizer="|".join(config["toy"]["optimizers"]) or "(?!)",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_toy_theorem_job,
    shell:
        "ganopt toy-theorem --config {params.job:q} --out results/toy"
        " --timing results/benchmarks/toy_theorem/{wildcards.optimizer}.json > {log} 2>&1"


rule toy_compare:
    input:
        toy_theorem_outputs(),
    output:
        seeds="results/toy/seeds.csv",
        sweep="results/toy/sweep.csv",
        figure="results/toy/compare.png",
        phase="results/toy/phase.png",
    log:
        "results/logs/toy_compare/toy_compare.log",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_toy_compare_job,
    shell:
        "ganopt toy-compare --config {params.job:q} --out results/toy"
        " --timing results/benchmarks/toy_compare/toy_compare.json > {log} 2>&1"


rule toy_tune:
    output:
        "results/toy/tune/{optimizer}.csv",
    log:
        "results/logs/toy_tune/{optimizer}.log",
    wildcard_constraints:
        optimizer="|".join(config["toy"]["optimizers"]) or "(?!)",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_toy_tune_job,
    shell:
        "ganopt toy-tune --config {params.job:q} --out results/toy"
        " --timing results/benchmarks/toy_tune/{wildcards.optimizer}.json > {log} 2>&1"

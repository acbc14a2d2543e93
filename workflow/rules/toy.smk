# Toy theorem (ganopt.toy): one job per optimizer (the sweep over d x <u1,u2> x init scale with its
# one pair of step sizes; per d, settings and seeds run batched), then the side-by-side figure, each
# run's events and the sweep summary (results/toy/sweep.csv|png) that the claims table reads.
# Functions: workflow/rules/toy_functions.smk.


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
        figure="results/toy/compare.png",
        seeds="results/toy/seeds.csv",
        sweep="results/toy/sweep.csv",
        sweep_figure="results/toy/sweep.png",
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

# Toy theorem (ganopt.toy): one job per optimizer (its step-size settings and seeds run batched),
# then one side-by-side figure and summary table of all optimizers.


rule toy_theorem:
    output:
        csv="results/toy/{optimizer}.csv",
        figure="results/toy/{optimizer}.png",
        summary="results/toy/{optimizer}.json",
    log:
        "results/logs/toy_theorem/{optimizer}.log",
    benchmark:
        "results/benchmarks/toy_theorem/{optimizer}.tsv"
    wildcard_constraints:
        optimizer="|".join(config["toy"]["optimizers"]) or "(?!)",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_toy_theorem_job,
    shell:
        "ganopt toy-theorem --config {params.job:q} --out results/toy > {log} 2>&1"


rule toy_compare:
    input:
        toy_theorem_outputs(),
    output:
        figure="results/toy/compare.png",
        table="results/toy/summary.csv",
    log:
        "results/logs/toy_compare/toy_compare.log",
    benchmark:
        "results/benchmarks/toy_compare/toy_compare.tsv"
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_toy_compare_job,
    shell:
        "ganopt toy-compare --config {params.job:q} --out results/toy > {log} 2>&1"

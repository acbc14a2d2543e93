# Toy theorem (ganopt.toy): one job per optimizer (its step-size settings and seeds run batched),
# then one side-by-side figure and summary table of all optimizers.
from ganopt.toy import TOY_OPTIMIZERS


def get_toy_theorem_job(wildcards):
    toy = config["toy"]
    settings = {k: v for k, v in toy.items() if k not in ("activate", "optimizers")}
    return job_json(
        optimizer=wildcards.optimizer,
        toy={**settings, "lrs": toy["optimizers"][wildcards.optimizer]["lrs"]},
    )


def get_toy_compare_job(wildcards):
    toy = config["toy"]
    return job_json(
        optimizers=list(toy["optimizers"]),
        recover_cos=toy["recover_cos"],
        both_modes_min=toy["both_modes_min"],
    )


def toy_theorem_outputs():
    return expand(
        "results/toy/{optimizer}.{ext}",
        optimizer=list(config["toy"]["optimizers"]),
        ext=["csv", "png", "json"],
    )


def toy_targets():
    if not config["toy"]["activate"]:
        return []
    return toy_theorem_outputs() + ["results/toy/compare.png", "results/toy/summary.csv"]


rule toy_theorem:
    output:
        csv="results/toy/{optimizer}.csv",
        figure="results/toy/{optimizer}.png",
        summary="results/toy/{optimizer}.json",
    params:
        job=get_toy_theorem_job,
    wildcard_constraints:
        optimizer="|".join(TOY_OPTIMIZERS),
    log:
        "results/logs/toy_theorem/{optimizer}.log",
    benchmark:
        "results/benchmarks/toy_theorem/{optimizer}.tsv"
    threads: 1
    conda:
        "../../envs/gan.yaml"
    shell:
        "ganopt toy-theorem --config {params.job:q} --out results/toy > {log} 2>&1"


rule toy_compare:
    input:
        toy_theorem_outputs(),
    output:
        figure="results/toy/compare.png",
        table="results/toy/summary.csv",
    params:
        job=get_toy_compare_job,
    log:
        "results/logs/toy_compare/toy_compare.log",
    benchmark:
        "results/benchmarks/toy_compare/toy_compare.tsv"
    threads: 1
    conda:
        "../../envs/gan.yaml"
    shell:
        "ganopt toy-compare --config {params.job:q} --out results/toy > {log} 2>&1"

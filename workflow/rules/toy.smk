# Toy theorem (ganopt.toy): one job per optimizer; its step-size settings and seeds run batched.
from ganopt.toy import TOY_OPTIMIZERS


def get_toy_theorem_job(wildcards):
    toy = config["toy"]
    settings = {k: v for k, v in toy.items() if k not in ("activate", "optimizers")}
    return job_json(
        optimizer=wildcards.optimizer,
        toy={**settings, "lrs": toy["optimizers"][wildcards.optimizer]["lrs"]},
    )


def toy_targets():
    if not config["toy"]["activate"]:
        return []
    return expand(
        "results/toy/{optimizer}.{ext}",
        optimizer=list(config["toy"]["optimizers"]),
        ext=["csv", "png", "json"],
    )


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

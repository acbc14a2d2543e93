# GAN training per dataset x optimizer x seed (ganopt.gan.train) and step-size tuning per
# dataset x optimizer on separate tuning seeds (ganopt.gan.tune), whose best.json the training reads.
# Each job writes its own timing record (ganopt.timing) to results/benchmarks/ instead of a
# `benchmark:` directive, whose polling of every job's memory map costs the Snakemake process CPU.
include: "gan_functions.smk"


rule tune_lr:
    input:
        data="results/data/{dataset}/manifest.json",
    output:
        best="results/tune/{dataset}/{optimizer}/best.json",
    log:
        "results/logs/tune_lr/{dataset}/{optimizer}.log",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_tune_lr_job,
    shell:
        "ganopt tune-lr --config {params.job:q} --out results/tune/{wildcards.dataset}/{wildcards.optimizer}"
        " --timing results/benchmarks/tune_lr/{wildcards.dataset}/{wildcards.optimizer}.json > {log} 2>&1"


# Resume state lives in results/state/ (not a declared output, so Snakemake keeps it when it
# reruns an incomplete job); the generator snapshots/ beside the outputs are rewritten by the job.
rule train_gan:
    input:
        unpack(get_train_gan_input),
    output:
        metrics="results/gan/{dataset}/{optimizer}/seed{seed}/metrics.csv",
        norms="results/gan/{dataset}/{optimizer}/seed{seed}/norms.csv",
        samples="results/gan/{dataset}/{optimizer}/seed{seed}/samples.png",
        checkpoint="results/gan/{dataset}/{optimizer}/seed{seed}/checkpoint.pt",
        run="results/gan/{dataset}/{optimizer}/seed{seed}/run.json",
        status="results/gan/{dataset}/{optimizer}/seed{seed}/status.json",
    log:
        "results/logs/train_gan/{dataset}/{optimizer}/seed{seed}.log",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_train_gan_job,
    shell:
        "ganopt train-gan --config {params.job:q} --out results/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed}"
        " --timing results/benchmarks/train_gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed}.json"
        " > {log} 2>&1"


# Vectorized seeds: every gan.seeds run of a (dataset, optimizer) in one job as one batched model,
# with the same per-seed files as train_gan; a seed outside gan.seeds still goes to train_gan.
if vectorized_datasets():

    ruleorder: train_gan_seeds > train_gan

    rule train_gan_seeds:
        input:
            unpack(get_train_gan_input),
        output:
            metrics=seed_outputs("metrics.csv"),
            norms=seed_outputs("norms.csv"),
            samples=seed_outputs("samples.png"),
            checkpoint=seed_outputs("checkpoint.pt"),
            run=seed_outputs("run.json"),
            status=seed_outputs("status.json"),
        log:
            "results/logs/train_gan/{dataset}/{optimizer}/seeds.log",
        wildcard_constraints:
            dataset="|".join(vectorized_datasets()),
        conda:
            "../../envs/gan.yaml"
        threads: 1
        params:
            job=get_train_gan_seeds_job,
        shell:
            "ganopt train-gan-seeds --config {params.job:q} --out results/gan/{wildcards.dataset}/{wildcards.optimizer}"
            " --timing results/benchmarks/train_gan_seeds/{wildcards.dataset}/{wildcards.optimizer}.json > {log} 2>&1"

# GAN training per dataset x optimizer, all seeds in one job (ganopt.gan.train), and step-size tuning per
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


# All gan.seeds of a (dataset, optimizer) train in one job as one batched model (ganopt.gan.session),
# each seed with its own outputs, resume file and MLflow run. Resume state lives in results/state/
# (not a declared output, so Snakemake keeps it when it reruns an incomplete job); the generator
# snapshots/ beside the outputs are rewritten by the job.
rule train_gan:
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
        "results/logs/train_gan/{dataset}/{optimizer}.log",
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_train_gan_job,
    shell:
        "ganopt train-gan --config {params.job:q} --out results/gan/{wildcards.dataset}/{wildcards.optimizer}"
        " --timing results/benchmarks/train_gan/{wildcards.dataset}/{wildcards.optimizer}.json > {log} 2>&1"

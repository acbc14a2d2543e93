# GAN training per dataset x optimizer x seed (ganopt.train) and step-size tuning per
# dataset x optimizer on separate tuning seeds (ganopt.tune), whose best.json the training reads.
rule tune_lr:
    input:
        data="results/data/{dataset}/manifest.json",
    output:
        best="results/tune/{dataset}/{optimizer}/best.json",
    log:
        "results/logs/tune_lr/{dataset}/{optimizer}.log",
    benchmark:
        "results/benchmarks/tune_lr/{dataset}/{optimizer}.tsv"
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_tune_lr_job,
    shell:
        "ganopt tune-lr --config {params.job:q} --out results/tune/{wildcards.dataset}/{wildcards.optimizer} > {log} 2>&1"


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
    benchmark:
        "results/benchmarks/train_gan/{dataset}/{optimizer}/seed{seed}.tsv"
    conda:
        "../../envs/gan.yaml"
    threads: 1
    params:
        job=get_train_gan_job,
    shell:
        "ganopt train-gan --config {params.job:q} --out results/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed} > {log} 2>&1"

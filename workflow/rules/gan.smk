# GAN training per dataset x optimizer x seed (ganopt.train) and step-size tuning per
# dataset x optimizer on separate tuning seeds (ganopt.tune), whose best.json the training reads.
from ganopt.optim import OPTIMIZERS
from ganopt.tune import check_gan_section

if "gan" in config:
    try:
        check_gan_section(config)
    except ConfigError as exc:
        sys.exit(f"ganopt: {exc}")


wildcard_constraints:
    optimizer="|".join(OPTIMIZERS),


def gan_run_parts(wildcards):
    """Job parts shared by tune_lr and train_gan: dataset, optimizer, data, settings, hparams."""
    return {
        "dataset": wildcards.dataset,
        "optimizer": wildcards.optimizer,
        "data_dir": f"results/data/{wildcards.dataset}",
        "train": config["gan"]["datasets"][wildcards.dataset]["train"],
        "hparams": config["gan"]["hparams"].get(wildcards.optimizer, {}),
    }


def get_step_sizes(wildcards):
    return config["gan"]["datasets"][wildcards.dataset]["optimizers"][wildcards.optimizer]


def get_tune_lr_job(wildcards):
    steps = get_step_sizes(wildcards)
    tune = config["gan"]["tune"]
    return job_json(
        **gan_run_parts(wildcards),
        grid=steps["grid"] or [[steps["lr_g"], steps["lr_d"]]],
        seeds=tune["seeds"],
        eval_samples=tune["eval_samples"],
    )


def tune_best_path(wildcards):
    return f"results/tune/{wildcards.dataset}/{wildcards.optimizer}/best.json"


def get_train_gan_input(wildcards):
    inputs = {"data": f"results/data/{wildcards.dataset}/manifest.json"}
    if config["gan"]["tune"]["activate"]:
        inputs["best"] = tune_best_path(wildcards)
    return inputs


def get_train_gan_job(wildcards):
    steps = get_step_sizes(wildcards)
    tuned = config["gan"]["tune"]["activate"]
    return job_json(
        **gan_run_parts(wildcards),
        seed=int(wildcards.seed),
        lr_g=steps["lr_g"],
        lr_d=steps["lr_d"],
        tune_best=tune_best_path(wildcards) if tuned else None,
        resume=f"results/state/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed}/resume.pt",
    )


def gan_targets():
    if "gan" not in config:
        return []
    return expand(
        "results/gan/{dataset}/{optimizer}/seed{seed}/status.json",
        dataset=list(config["gan"]["datasets"]),
        optimizer=config["gan"]["optimizers"],
        seed=config["gan"]["seeds"],
    )


rule tune_lr:
    input:
        data="results/data/{dataset}/manifest.json",
    output:
        best="results/tune/{dataset}/{optimizer}/best.json",
    params:
        job=get_tune_lr_job,
    log:
        "results/logs/tune_lr/{dataset}/{optimizer}.log",
    benchmark:
        "results/benchmarks/tune_lr/{dataset}/{optimizer}.tsv"
    threads: 1
    conda:
        "../../envs/gan.yaml"
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
    params:
        job=get_train_gan_job,
    log:
        "results/logs/train_gan/{dataset}/{optimizer}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_gan/{dataset}/{optimizer}/seed{seed}.tsv"
    threads: 1
    conda:
        "../../envs/gan.yaml"
    shell:
        "ganopt train-gan --config {params.job:q} --out results/gan/{wildcards.dataset}/{wildcards.optimizer}/seed{wildcards.seed} > {log} 2>&1"

# Job configs, inputs and targets of tune_lr, train_gan and train_gan_seeds (workflow/rules/gan.smk),
# and which datasets train their seeds in one job.
from ganopt.gan.netconfig import NetConfig, vectorizable


def gan_run_parts(wildcards):
    """Job parts shared by tune_lr and train_gan: dataset, optimizer, data, settings, hparams."""
    return {
        "dataset": wildcards.dataset,
        "optimizer": wildcards.optimizer,
        "data_dir": f"results/data/{wildcards.dataset}",
        "train": config["gan"]["datasets"][wildcards.dataset]["train"],
        "hparams": config["gan"]["hparams"].get(wildcards.optimizer, {}),
    }


def step_sizes(wildcards):
    """The config's step sizes of one (dataset, optimizer): a grid when tuning, else lr_g and lr_d."""
    return config["gan"]["datasets"][wildcards.dataset]["optimizers"][wildcards.optimizer]


def get_tune_lr_job(wildcards):
    tune = config["gan"]["tune"]
    return job_json(
        **gan_run_parts(wildcards),
        grid=step_sizes(wildcards)["grid"],
        seeds=tune["seeds"],
        eval_samples=tune["eval_samples"],
        vectorize=config["gan"]["vectorize"],
    )


def tune_best_path(wildcards):
    return f"results/tune/{wildcards.dataset}/{wildcards.optimizer}/best.json"


def get_train_gan_input(wildcards):
    inputs = {"data": f"results/data/{wildcards.dataset}/manifest.json"}
    if config["gan"]["tune"]["activate"]:
        inputs["best"] = tune_best_path(wildcards)
    return inputs


def get_train_gan_job(wildcards):
    """With tuning on, the step sizes come from best.json only (the config then gives a grid)."""
    tuned = config["gan"]["tune"]["activate"]
    steps = {} if tuned else step_sizes(wildcards)
    return job_json(
        **gan_run_parts(wildcards),
        seed=int(wildcards.seed),
        lr_g=steps.get("lr_g"),
        lr_d=steps.get("lr_d"),
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


def vectorized_datasets():
    """Datasets whose seeds train as one batched model per optimizer (gan.vectorize: auto, MLP nets)."""
    if "gan" not in config or config["gan"]["vectorize"] == "off":
        return []
    return [d for d, s in config["gan"]["datasets"].items() if vectorizable(NetConfig(**s["train"]["net"]))]


def get_train_gan_seeds_job(wildcards):
    """All seeds of one (dataset, optimizer) as one batched job; step sizes as in get_train_gan_job."""
    tuned = config["gan"]["tune"]["activate"]
    steps = {} if tuned else step_sizes(wildcards)
    return job_json(
        **gan_run_parts(wildcards),
        seeds=config["gan"]["seeds"],
        lr_g=steps.get("lr_g"),
        lr_d=steps.get("lr_d"),
        tune_best=tune_best_path(wildcards) if tuned else None,
        resume=f"results/state/gan/{wildcards.dataset}/{wildcards.optimizer}",
        vectorize=config["gan"]["vectorize"],
    )


def seed_outputs(name):
    return expand(
        "results/gan/{{dataset}}/{{optimizer}}/seed{seed}/{name}",
        seed=config["gan"]["seeds"],
        name=name,
    )

# Job configs, inputs and targets of tune_lr and train_gan (workflow/rules/gan.smk).


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
    )


def tune_best_path(wildcards):
    return f"results/tune/{wildcards.dataset}/{wildcards.optimizer}/best.json"


def get_train_gan_input(wildcards):
    inputs = {"data": f"results/data/{wildcards.dataset}/manifest.json"}
    if config["gan"]["tune"]["activate"]:
        inputs["best"] = tune_best_path(wildcards)
    return inputs


def get_train_gan_job(wildcards):
    """All seeds of one (dataset, optimizer); with tuning on, the step sizes come from best.json only
    (the config then gives a grid)."""
    tuned = config["gan"]["tune"]["activate"]
    steps = {} if tuned else step_sizes(wildcards)
    return job_json(
        **gan_run_parts(wildcards),
        seeds=config["gan"]["seeds"],
        lr_g=steps.get("lr_g"),
        lr_d=steps.get("lr_d"),
        tune_best=tune_best_path(wildcards) if tuned else None,
        resume=f"results/state/gan/{wildcards.dataset}/{wildcards.optimizer}",
    )


def seed_outputs(name):
    """One output file per seed of gan.seeds in the runs of a (dataset, optimizer)."""
    return expand(
        "results/gan/{{dataset}}/{{optimizer}}/seed{seed}/{name}",
        seed=config["gan"]["seeds"],
        name=name,
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

# Job configs, outputs and targets of the toy-theorem stage (workflow/rules/toy.smk).

TOY_COMPARE_OUTPUTS = ["seeds.csv", "sweep.csv", "compare.png", "phase.png"]
TOY_JOB_KEYS = ("activate", "optimizers", "tune")


def get_toy_theorem_job(wildcards):
    toy = config["toy"]
    settings = {k: v for k, v in toy.items() if k not in TOY_JOB_KEYS}
    return job_json(
        optimizer=wildcards.optimizer,
        toy={**settings, **toy["optimizers"][wildcards.optimizer]},
    )


def get_toy_tune_job(wildcards):
    toy = config["toy"]
    settings = {k: v for k, v in toy.items() if k not in TOY_JOB_KEYS}
    return job_json(
        optimizer=wildcards.optimizer,
        toy={**settings, **toy["optimizers"][wildcards.optimizer]},
        tune=toy["tune"],
    )


def get_toy_compare_job(wildcards):
    toy = config["toy"]
    return job_json(
        optimizers=list(toy["optimizers"]),
        **{k: toy[k] for k in ("collapse_min", "strict_min", "seed_share_min", "cone")},
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
    return toy_theorem_outputs() + [f"results/toy/{name}" for name in TOY_COMPARE_OUTPUTS]

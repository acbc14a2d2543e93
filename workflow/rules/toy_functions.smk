# Job configs, outputs and targets of the toy-theorem stage (workflow/rules/toy.smk).


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

# Job configs, outputs and targets of the toy-theorem stage (workflow/rules/toy.smk).

TOY_COMPARE_OUTPUTS = ["compare.png", "seeds.csv", "sweep.csv", "sweep.png"]


def get_toy_theorem_job(wildcards):
    toy = config["toy"]
    settings = {k: v for k, v in toy.items() if k not in ("activate", "optimizers")}
    return job_json(
        optimizer=wildcards.optimizer,
        toy={**settings, **toy["optimizers"][wildcards.optimizer]},
    )


def get_toy_compare_job(wildcards):
    toy = config["toy"]
    return job_json(
        optimizers=list(toy["optimizers"]),
        headline=[toy["d"][0], toy["u_cos"][0], toy["init_scale"][0]],
        **{k: toy[k] for k in ("collapse_min", "both_modes_min", "seed_share_min")},
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

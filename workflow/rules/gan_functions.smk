# Functions of the GAN rules (workflow/rules/gan.smk) beyond those in common.smk: which datasets
# train their seeds in one job, that job's config and its per-seed outputs.
from ganopt.nets import NetConfig
from ganopt.vectorized import vectorizable


def vectorized_datasets():
    """Datasets whose seeds train as one batched model per optimizer (gan.vectorize: auto, MLP nets)."""
    if "gan" not in config or config["gan"]["vectorize"] == "off":
        return []
    return [
        d
        for d, s in config["gan"]["datasets"].items()
        if vectorizable(NetConfig(**s["train"]["net"]))
    ]


def get_train_gan_seeds_job(wildcards):
    steps = get_step_sizes(wildcards)
    tuned = config["gan"]["tune"]["activate"]
    return job_json(
        **gan_run_parts(wildcards),
        seeds=config["gan"]["seeds"],
        lr_g=steps["lr_g"],
        lr_d=steps["lr_d"],
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

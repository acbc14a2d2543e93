# Natural-gradient flows in hidden convex-concave games (ganopt.natgrad): one job per experiment,
# each writing results/natgrad/<experiment>/<method>.csv, figures and summary.json.

from ganopt.config import from_dict
from ganopt.natgrad.jobs import EXPERIMENTS

NATGRAD_FIGURES = {
    "rps": ["V.png", "simplex.png", "sigma.png"],
    "gan": ["V.png", "metrics.png", "samples.png"],
}


def natgrad_section(experiment):
    """One experiment's config section as given (the job fills in the dataclass defaults)."""
    return (config.get("natgrad") or {}).get(experiment) or {}


def natgrad_outputs(experiment):
    """The CSV per method, the summary and the figures of one experiment."""
    cfg = from_dict(EXPERIMENTS[experiment][0], natgrad_section(experiment), where=f"natgrad.{experiment}")
    figures = [f"V_{p}.png" for p in cfg.players] if experiment == "warmup" else NATGRAD_FIGURES[experiment]
    return [f"results/natgrad/{experiment}/{name}" for name in
            [f"{m}.csv" for m in cfg.methods] + ["summary.json"] + figures]


def get_natgrad_job(experiment):
    return job_json(**natgrad_section(experiment))


def natgrad_targets():
    if not (config.get("natgrad") or {}).get("activate", True):
        return []
    return [path for experiment in ("warmup", "rps", "gan") for path in natgrad_outputs(experiment)]


rule natgrad_warmup:
    output:
        natgrad_outputs("warmup"),
    params:
        job=get_natgrad_job("warmup"),
    log:
        "results/logs/natgrad_warmup/natgrad_warmup.log",
    benchmark:
        "results/benchmarks/natgrad_warmup/natgrad_warmup.tsv"
    threads: 1
    conda:
        "../../envs/natgrad.yaml"
    shell:
        "ganopt natgrad-warmup --config {params.job:q} --out results/natgrad/warmup > {log} 2>&1"


rule natgrad_rps:
    output:
        natgrad_outputs("rps"),
    params:
        job=get_natgrad_job("rps"),
    log:
        "results/logs/natgrad_rps/natgrad_rps.log",
    benchmark:
        "results/benchmarks/natgrad_rps/natgrad_rps.tsv"
    threads: 1
    conda:
        "../../envs/natgrad.yaml"
    shell:
        "ganopt natgrad-rps --config {params.job:q} --out results/natgrad/rps > {log} 2>&1"


rule natgrad_gan:
    output:
        natgrad_outputs("gan"),
    params:
        job=get_natgrad_job("gan"),
    log:
        "results/logs/natgrad_gan/natgrad_gan.log",
    benchmark:
        "results/benchmarks/natgrad_gan/natgrad_gan.tsv"
    threads: 1
    conda:
        "../../envs/natgrad.yaml"
    shell:
        "ganopt natgrad-gan --config {params.job:q} --out results/natgrad/gan > {log} 2>&1"

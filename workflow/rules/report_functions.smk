# Job config, plan and outputs of the study report (workflow/rules/report.smk; ganopt.report).
from dataclasses import asdict

from ganopt.report.plan import study_plan


def report_upstream():
    """Every stage target the report reads (GAN runs and their FID, toy, natgrad)."""
    return gan_targets() + fid_targets() + toy_targets() + natgrad_targets()


def report_plan():
    return study_plan(config, report_upstream())


def get_report_job(wildcards):
    return job_json(plan=asdict(report_plan()))


def report_outputs(kind):
    """The plan's tables or figures, flagged for `snakemake --report` with their caption and category."""
    outputs = report_plan().tables() if kind == "tables" else report_plan().figures()
    flags = {
        o.path: dict(caption=f"../report/{o.caption}.rst", category=o.category, subcategory=o.subcategory)
        for o in outputs
    }
    return [report(path, **flag) for path, flag in flags.items()]


def report_targets():
    return ["results/report.md"]

# Study report (ganopt.report): tables and the claims table, figures, report.md and the study's
# parent MLflow run. Functions: workflow/rules/report_functions.smk.


# first page of `snakemake --report`: the claims table inline (results/claims.html)
report: "../report/workflow.rst"


rule aggregate:
    input:
        report_upstream(),
    output:
        report_outputs("tables"),
    log:
        "results/logs/aggregate/aggregate.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        job=get_report_job,
    shell:
        "ganopt aggregate --config {params.job:q} --out results/tables"
        " --timing results/benchmarks/aggregate/aggregate.json > {log} 2>&1"


rule figures:
    input:
        report_upstream(),
    output:
        report_outputs("figures"),
    log:
        "results/logs/figures/figures.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        job=get_report_job,
    shell:
        "ganopt figures --config {params.job:q} --out results/figures"
        " --timing results/benchmarks/figures/figures.json > {log} 2>&1"


rule study_report:
    input:
        rules.aggregate.output,
        rules.figures.output,
    output:
        "results/report.md",
        report(
            "results/claims.html",
            caption="../report/claims_html.rst",
            category="Tables",
            subcategory="claims",
        ),
    log:
        "results/logs/study_report/study_report.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        job=get_report_job,
    shell:
        "ganopt study-report --config {params.job:q} --out results"
        " --timing results/benchmarks/study_report/study_report.json > {log} 2>&1"

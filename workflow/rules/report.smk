# Study report (ganopt.report): tables and the claims table, figures, report.md and the study's
# parent MLflow run. Functions: workflow/rules/report_functions.smk.


rule aggregate:
    input:
        report_upstream(),
    output:
        report_outputs("tables"),
    params:
        job=get_report_job,
    log:
        "results/logs/aggregate/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate/aggregate.tsv"
    threads: 1
    conda:
        "../../envs/report.yaml"
    shell:
        "ganopt aggregate --config {params.job:q} --out results/tables > {log} 2>&1"


rule figures:
    input:
        report_upstream(),
    output:
        report_outputs("figures"),
    params:
        job=get_report_job,
    log:
        "results/logs/figures/figures.log",
    benchmark:
        "results/benchmarks/figures/figures.tsv"
    threads: 1
    conda:
        "../../envs/report.yaml"
    shell:
        "ganopt figures --config {params.job:q} --out results/figures > {log} 2>&1"


rule study_report:
    input:
        rules.aggregate.output,
        rules.figures.output,
    output:
        "results/report.md",
    params:
        job=get_report_job,
    log:
        "results/logs/study_report/study_report.log",
    benchmark:
        "results/benchmarks/study_report/study_report.tsv"
    threads: 1
    conda:
        "../../envs/report.yaml"
    shell:
        "ganopt study-report --config {params.job:q} --out results > {log} 2>&1"

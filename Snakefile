# ganopt: the whole study as one workflow. Index only: config, rule files, the default target.
from snakemake.utils import min_version

min_version("9.0")


# The study config: config.yaml, or the `--configfile` files instead (config/paper.yaml does not
# inherit the default study's datasets), then `--config section=value` overrides; common.smk reads
# and checks them with ganopt's one reader.
include: "workflow/rules/common.smk"
include: "workflow/rules/data_functions.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gan_functions.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/natgrad_functions.smk"
include: "workflow/rules/natgrad.smk"
include: "workflow/rules/toy_functions.smk"
include: "workflow/rules/toy.smk"
include: "workflow/rules/fid_functions.smk"
include: "workflow/rules/fid.smk"
include: "workflow/rules/report_functions.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        data_targets(),
        gan_targets(),
        natgrad_targets(),
        toy_targets(),
        fid_targets(),
        report_targets(),

# ganopt: the whole study as one workflow. Index only: config, rule files, the default target.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/fid.smk"


rule all:
    default_target: True
    input:
        data_targets(),
        fid_targets(),

# lingscope: what recurrent networks learn about language.
# Thin entry point: the rules live in workflow/rules/, the logic in src/lingscope/.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# The defaults always come from this checkout's config.yaml, whatever the working directory;
# --configfile files are merged over them (workflow/configs/paper.yaml lists only changes).
configfile: Path(workflow.basedir) / "config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    corpus="|".join(PLAN.corpora_declared()),
    split="|".join(SPLITS),
    shard=r"\d+",
    n_shards=r"\d+",
    model="|".join(MODELS),
    pathway="|".join(PATHWAYS),
    io_method="|".join(IO_METHODS),


include: "workflow/rules/data.smk"
include: "workflow/rules/parse.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/kadar2017.smk"
include: "workflow/rules/li2016.smk"
include: "workflow/rules/poerner2018.smk"
include: "workflow/rules/across_papers.smk"


rule all:
    default_target: True
    input:
        final_targets(),


onsuccess:
    print_checks()

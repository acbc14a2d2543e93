"""What the report covers: the stages the study config switches on, turned into the report's
table and figure paths. The Snakemake rules declare these outputs and the report jobs rebuild
the same plan from their job config, so the declared files and the written ones cannot drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ganopt.report.config import ReportConfig

TABLES_DIR = "results/tables"
FIGURES_DIR = "results/figures"
GRAFTING = ("adam", "adalr", "adadir", "sgda")            # E-A1: the grafting comparison
NORMALIZED = ("adam", "nsgda_layer", "nsgda_global", "sgda")  # E-A3: nSGDA vs Adam (SGDA for scale)


@dataclass(frozen=True)
class Output:
    """One reported file: its path, the caption file (workflow/report/<caption>.rst), its category
    in the Snakemake report, and the dataset or stage it belongs to."""

    path: str
    caption: str
    category: str
    subcategory: str


@dataclass(frozen=True)
class StudyPlan:
    """The study as the report sees it (built from the validated study config by study_plan)."""

    study: str = "default"
    datasets: tuple[str, ...] = ()        # GAN datasets (empty: no GAN stage)
    optimizers: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    fid: bool = False                     # every GAN run has fid.json (FID stage active)
    toy: tuple[str, ...] = ()             # toy optimizers run (empty: toy stage off)
    natgrad: tuple[str, ...] = ()         # natgrad CSVs, results/natgrad/<experiment>/<method>.csv
    stage_figures: tuple[str, ...] = ()   # figures the stages write themselves (copied, not redrawn)
    report: ReportConfig = field(default_factory=ReportConfig)

    def has(self, *optimizers: str) -> bool:
        return all(o in self.optimizers for o in optimizers)

    def tables(self) -> list[Output]:
        """results/tables/*.csv of the active stages (subcategory: the stage), the claims table always."""
        names = []
        if self.datasets:
            names += [("gan_runs", "gan"), ("gan_summary", "gan")] + ([("adam_norms", "gan")] if self.has("adam") else [])
        if self.toy:
            names.append(("toy_summary", "toy"))
        if self.natgrad:
            names += [("natgrad_summary", "natgrad"), ("natgrad_flow", "natgrad")]
        names.append(("claims", "claims"))
        return [Output(f"{TABLES_DIR}/{n}.csv", f"table_{n}", "Tables", stage) for n, stage in names]

    def gan_figures(self) -> list[Output]:
        """Figures drawn from the GAN runs, per dataset."""
        out = []
        for dataset in self.datasets:
            kinds = ["samples"]
            if self.fid:
                kinds.insert(0, "quality")
                if self.has("adam") and any(o in self.optimizers for o in GRAFTING[1:]):
                    kinds.append("grafting")
                if self.has("adam") and any(o in self.optimizers for o in NORMALIZED[1:3]):
                    kinds.append("nsgda")
            if self.has("adam"):
                kinds.append("adam_norms")
            out += [Output(f"{FIGURES_DIR}/{kind}_{dataset}.png", kind, "GAN figures", dataset) for kind in kinds]
        return out

    def copied_figures(self) -> dict[str, Output]:
        """Stage figures carried into results/figures: source path -> its reported copy."""
        out = {}
        for source in self.stage_figures:
            parts = PurePosixPath(source).relative_to("results").parts   # e.g. natgrad/rps/V.png
            stage = parts[0]
            caption = stage if stage == "toy" else f"{stage}_{parts[1]}"
            out[source] = Output(f"{FIGURES_DIR}/{'_'.join(parts)}", caption, f"{stage} figures", caption)
        return out

    def figures(self) -> list[Output]:
        return self.gan_figures() + list(self.copied_figures().values())


def study_plan(config: dict, targets: list[str]) -> StudyPlan:
    """The plan of a validated study config, read off the stages' targets (the paths rule all asks
    for: results/gan/<dataset>/<optimizer>/seed<k>/status.json|fid.json, results/toy/...,
    results/natgrad/<experiment>/...), so a stage counts as run exactly when its rules run."""
    from ganopt.config import from_dict

    runs = [PurePosixPath(p).parts for p in targets if p.startswith("results/gan/")]
    return StudyPlan(
        study=config.get("study", "default"),
        datasets=tuple(dict.fromkeys(r[2] for r in runs)),
        optimizers=tuple(dict.fromkeys(r[3] for r in runs)),
        seeds=tuple(sorted({int(r[4].removeprefix("seed")) for r in runs})),
        fid=any(r[-1] == "fid.json" for r in runs),
        toy=tuple(PurePosixPath(p).stem for p in targets if p.startswith("results/toy/") and p.endswith(".json")),
        natgrad=tuple(p for p in targets if p.startswith("results/natgrad/") and p.endswith(".csv")),
        stage_figures=tuple(sorted(p for p in targets if p.endswith(".png") and not p.startswith("results/gan/"))),
        report=from_dict(ReportConfig, config.get("report") or {}, where="report"),
    )

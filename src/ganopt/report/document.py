"""results/report.md: the claims table inline (what the paper says beside what this study measured,
and how the verdicts are reached), a compact GAN summary with the real-vs-real FID floor beside
every FID, and every table and figure of the study linked (relative links, so the folder can be moved
or zipped), each with its caption from workflow/report/<caption>.rst (the same text the Snakemake HTML
report shows); and results/claims.html, the claims table that the HTML report shows on its first page."""

from __future__ import annotations

import html
import math
from pathlib import Path, PurePosixPath

import pandas as pd

from ganopt.report.plan import Output, StudyPlan
from ganopt.stats import VERDICTS

CAPTIONS_DIR = Path(__file__).resolve().parents[3] / "workflow" / "report"
SECTIONS = (("GAN", "gan"), ("Toy theorem", "toy"), ("Natural gradient", "natgrad"))


def caption(name: str) -> str:
    """The caption text of one reported output, as one paragraph."""
    return " ".join((CAPTIONS_DIR / f"{name}.rst").read_text().split())


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table (no tabulate dependency); floats with 3 significant digits."""
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def verdict_counts(claims: pd.DataFrame) -> str:
    """'3 holds, 1 does not hold, 4 not evaluated.'"""
    verdicts = claims["verdict"].value_counts()
    return ", ".join(f"{verdicts.get(v, 0)} {v}" for v in VERDICTS) + "."


def claims_html(claims: pd.DataFrame) -> str:
    """The claims table as an HTML fragment (cells escaped, floats with 3 significant digits), with
    the verdict counts above it."""
    frame = claims_overview(claims)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>\n"
                   for row in frame.itertuples(index=False))
    return (f"<p>{html.escape(verdict_counts(claims))}</p>\n"
            f"<table class=\"claims\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n")


def _link(out: Output) -> str:
    return str(PurePosixPath(out.path).relative_to("results"))


METHOD = ("How a claim is judged (ganopt.stats): the effect is measured over the reported seeds "
          "(tuning seeds never enter) with an exact, distribution-free 95% interval, so no resampling seed is "
          "involved: \"X vs Adam\" is the Hodges-Lehmann factor by which X's final ranking metric is worse than "
          "Adam's (> 1: worse; a diverged seed counts as the worst value, a collapsed one keeps its bad value so "
          "that collapsed runs do not tie) with the interval from the "
          "exact Mann-Whitney test; a median over seeds has the sign-test interval; a share of runs the "
          "Clopper-Pearson interval. The verdict holds when the whole interval is on the claim's side of the "
          "threshold, does not hold when it is wholly on the other side, and is inconclusive when it straddles "
          "the threshold, when there are too few seeds for a 95% interval, or when fewer than "
          "report.claims.plateau_share_min of a compared optimizer's runs have settled (ranking metric plateaued "
          "over the last fid.plateau.window of training, or diverged): \"not converged at this budget\". "
          "The first and second halves of the seeds (disjoint) are judged separately to show whether a verdict "
          "is stable. Toy shares pooled over d count a seed's runs as one cluster (Korn-Graubard interval); "
          "natural gradient's monotonicity, the theorem's \"every init\", is a count of violations that holds "
          "only at zero (docs/theorems.md).")


CURVES = ("The learning curves (quality_<dataset> figures below) show whether the runs have plateaued; the shaded "
          "span is the last fid.plateau.window of training, which the plateau test compares with the span before it.")


def claims_overview(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims table as shown: the paper's statement beside the measured effect, interval and n."""
    def measured(r: pd.Series) -> str:
        if r["verdict"] == "not evaluated":
            return ""
        return f"{_cell(r['effect'])} [{_cell(r['ci_low'])}, {_cell(r['ci_high'])}], n {int(r['n'])}"
    return pd.DataFrame({
        "claim": claims["claim"], "the paper says": claims["paper"], "scope": claims["scope"],
        "statistic": claims["statistic"], "measured: effect [95% interval], n": claims.apply(measured, axis=1),
        "threshold": claims["threshold"], "verdict": claims["verdict"], "first half of seeds": claims["first_half"],
        "second half": claims["second_half"], "note": claims["note"]})


def gan_overview(summary: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x optimizer: seeds, failures, plateaued runs, the ranking metric's final median
    [95% interval] and its real-vs-real floor (FID)."""
    rows = []
    for _, r in summary.iterrows():
        metric = r["metric"]
        cell = ""
        if isinstance(metric, str) and f"final_{metric}_median" in r:
            low, high = r[f"final_{metric}_ci95_low"], r[f"final_{metric}_ci95_high"]
            interval = f"[{_cell(low)}, {_cell(high)}]" if not math.isnan(low) else "(one finite seed)"
            cell = f"{_cell(r[f'final_{metric}_median'])} {interval}"
        rows.append({"dataset": r["dataset"], "optimizer": r["optimizer"], "seeds": r["seeds"],
                     "diverged": r["diverged"], "collapsed": r["collapsed"], "plateaued": r.get("plateaued", ""),
                     "metric": metric, "final: median [95% t-interval of the mean]": cell,
                     "real-vs-real floor": r.get("floor", math.nan)})
    return pd.DataFrame(rows)


def render(plan: StudyPlan, claims: pd.DataFrame, summary: pd.DataFrame | None, commit: str) -> str:
    """The whole report.md text."""
    parts = [f"# Study report: {plan.study}", "",
             (f"Computed by the `study_report` rule from the runs in `results/` (code commit `{commit}`). "
             "Every number below comes from the tables; thresholds are in the `report:` section of the config."),
             "", "## Claims", "", caption("table_claims"), "",
             verdict_counts(claims), "", METHOD, "",
             markdown_table(claims_overview(claims)), "",
             "Table: [tables/claims.csv](tables/claims.csv)", ""]
    figures = plan.figures()
    for title, stage in SECTIONS:
        tables = [t for t in plan.tables() if t.subcategory == stage]
        shown = [f for f in figures if f.category.lower().startswith(stage)]
        if not tables and not shown:
            parts += [f"## {title}", "", "Not part of this study (stage switched off).", ""]
            continue
        parts += [f"## {title}", ""]
        if stage == "gan" and summary is not None and not summary.empty:
            parts += [markdown_table(gan_overview(summary)), "", CURVES, ""]
        for table in tables:
            parts += [f"- Table [{_link(table)}]({_link(table)}): {caption(table.caption)}"]
        parts.append("")
        for figure in shown:
            parts += [f"### {PurePosixPath(figure.path).stem}", "", (f"![{PurePosixPath(figure.path).stem}]"
                      f"({_link(figure)})"), "", caption(figure.caption), ""]
    parts += ["## Runs in MLflow", "",
              "Every job of the study is an MLflow run nested under the run `study/" + plan.study + "`, which also "
              "holds these tables and figures as artifacts. Browse them with", "",
              "    mlflow ui --backend-store-uri sqlite:///results/mlflow.db --host 127.0.0.1", "",
              "and open http://127.0.0.1:5000 (experiment page, then the Runs tab).", ""]
    return "\n".join(parts)

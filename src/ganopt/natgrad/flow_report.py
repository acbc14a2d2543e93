"""The flow checks of every natgrad experiment side by side (torch-free, so the report reads them):
per setting and integrator step, how many inits keep V monotone, and the NG picture (share of
monotone runs against the step size per setting, the RK4 reference beside, the theorem's
statement). Job `ganopt natgrad-flow`: the experiments' flow.csv -> <out>/monotone.csv, .png."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from ganopt import timing
from ganopt.config import require_keys
from ganopt.io import read_csv, save_figure, write_csv

KEYS = ["experiment", "setting", "integrator", "step_size"]
THEOREM = ("Theorem (hidden convex-concave game, L strictly convex-concave, the players' Jacobians of full "
           "rank along the trajectory): along the natural-gradient flow theta' = -A^-1 grad_theta Psi, "
           "phi' = B^-1 grad_phi Psi, V = 1/2 ||F - F*||^2 + 1/2 ||G - G*||^2 decreases (to 0) from every init.")


def flow_summary(flows: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, setting, integrator and step size: inits, those inside the full-rank
    assumption (judged on the reference), violations (a rise of V) among them and among all, the
    share of inits whose V never rises (inside, and all), and the reference's largest error estimate
    over the inits inside."""
    columns = [*KEYS, "lr", "inits", "inside", "violations_inside", "violations_all", "monotone_share",
               "monotone_share_all", "ref_error_max"]
    if flows.empty:
        return pd.DataFrame(columns=columns)
    ref = flows[flows["integrator"] == "rk4"]
    inside = ref.set_index(["experiment", "setting", "init"])["inside"].astype(bool)
    flows = flows.assign(inside=flows.set_index(["experiment", "setting", "init"]).index.map(inside).astype(bool),
                         rose=flows["rises"] > 0)
    rows = []
    for key, part in flows.groupby(KEYS, sort=False):
        n_in, n = int(part["inside"].sum()), len(part)
        bad = int((part["rose"] & part["inside"]).sum())
        rows.append({**dict(zip(KEYS, key)), "lr": part["lr"].iloc[0], "inits": n, "inside": n_in,
                     "violations_inside": bad, "violations_all": int(part["rose"].sum()),
                     "monotone_share": (n_in - bad) / n_in if n_in else None,
                     "monotone_share_all": 1 - part["rose"].mean(),
                     "ref_error_max": part.loc[part["inside"], "ref_error"].max() if key[2] == "rk4" else None})
    return pd.DataFrame(rows, columns=columns)


def plot_monotone(summary: pd.DataFrame, path: str | Path) -> None:
    """One panel per setting: the share of inits whose V never rises under Euler NG against the
    step size (inside the full-rank assumption: filled, with the counts; all inits: hollow), and
    along the RK4 reference (stars); the configured step dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(zip(summary["experiment"], summary["setting"])))
    cols = 3
    rows = (len(settings) + 1 + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 3.3 * rows), squeeze=False, constrained_layout=True)
    for ax, (experiment, setting) in zip(axes.flat, settings):
        part = summary[(summary["experiment"] == experiment) & (summary["setting"] == setting)]
        euler, ref = part[part["integrator"] == "euler"], part[part["integrator"] == "rk4"]
        ax.plot(euler["step_size"], euler["monotone_share"], "o-", color="C0", label="Euler NG, inits inside")
        ax.plot(euler["step_size"], euler["monotone_share_all"], "o--", color="C0", mfc="white", label="Euler NG, all inits")
        ax.plot(ref["step_size"], ref["monotone_share"], "*", color="C3", markersize=13, label="RK4 reference, inside")
        ax.plot(ref["step_size"], ref["monotone_share_all"], "*", color="C3", mfc="white", markersize=11,
                label="RK4 reference, all")
        for _, r in euler.iterrows():
            ax.annotate(f"{r.violations_inside}/{r.inside}", (r.step_size, r.monotone_share), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=7)
        ax.axvline(part["lr"].iloc[0], color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xticks(sorted(euler["step_size"]), [f"{h:g}" for h in sorted(euler["step_size"])], fontsize=7)
        ax.minorticks_off()
        ax.set(ylim=(-0.05, 1.12), xlabel="step size (dotted: configured)", ylabel="share with V monotone")
        out = int(ref["inits"].sum() - ref["inside"].sum())
        ax.set_title(f"{experiment} {setting}\n{int(ref['inside'].sum())} of {int(ref['inits'].sum())} inits inside "
                     f"the assumption" + (f" ({out} outside)" if out else ""), fontsize=8.5)
    axes.flat[0].legend(fontsize=6.5, loc="lower left")
    for ax in list(axes.flat)[len(settings):]:
        ax.axis("off")
    axes.flat[len(settings)].text(0, 1, textwrap.fill(THEOREM, 48) + "\n\n" + textwrap.fill(
        "Counts: inits whose V rises / inits inside the full-rank assumption (judged along the reference). "
        "A rise that fades as the step halves and is absent from the reference is the discretization's.", 48),
        va="top", fontsize=8)
    fig.suptitle("Natural gradient as a flow: share of runs whose V never rises, against the step size, per setting",
                 fontsize=10)
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def natgrad_flow_job(job: dict, out: Path) -> None:
    """job = {"inputs": [results/natgrad/<experiment>/flow.csv, ...], "tracking", "device"}: the summary
    (<out>/monotone.csv) and the NG picture (<out>/monotone.png)."""
    from ganopt.jobs import job_run

    require_keys(job, "natgrad-flow job", inputs=list[str])
    out = Path(out)
    frames = []
    with timing.phase("summary"):
        for name in job["inputs"]:
            experiment = Path(name).parent.name
            frame = read_csv(name, ("setting", "init", "lr", "integrator", "step_size", "rises", "ref_error", "inside"),
                             f"delete it and rerun rule natgrad_{experiment}", keep_default_na=False, na_values=[""])
            if not frame.empty:
                frames.append(frame.assign(experiment=experiment))
    with job_run(job, "natgrad_flow", tags={"stage": "natgrad"}) as tracker:
        with timing.phase("summary"):
            summary = flow_summary(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
            write_csv(out / "monotone.csv", summary)
            plot_monotone(summary, out / "monotone.png")
        for name in ("monotone.csv", "monotone.png"):
            tracker.log_artifact(out / name)
    with pd.option_context("display.width", 200):
        print(summary.to_string(index=False))

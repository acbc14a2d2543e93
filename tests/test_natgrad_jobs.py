"""natgrad jobs end to end at tiny sizes (CLI entry -> CSV per method, figures, summary)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from ganopt.config import from_dict, validate_config
from ganopt.errors import ConfigError
from ganopt.natgrad.gan import GanConfig
from ganopt.natgrad.jobs import EXPERIMENTS, run_experiment
from ganopt.natgrad.outputs import declared_outputs

TINY = {
    "warmup": {"inits": 2, "steps": 12, "record_every": 4, "hidden": [4]},
    "rps": {"inits": 2, "lambdas": [0.1, 1.0], "steps": 12, "record_every": 4, "hidden": [8]},
    "gan": {"steps": 6, "record_every": 3, "seeds": [0, 1], "net": {"z_dim": 2, "width": 8, "depth": 1}},
}


@pytest.mark.parametrize("experiment", sorted(TINY))
def test_job_writes_every_declared_output(experiment, tmp_path):
    """rps through the CLI in a subprocess; the others in-process (a subprocess is mostly imports)."""
    job = {"tracking": {"enabled": False}, "device": "cpu", **TINY[experiment]}
    out = tmp_path / experiment
    if experiment == "rps":
        subprocess.run([sys.executable, "-m", "ganopt.cli", f"natgrad-{experiment}", "--config", json.dumps(job),
                        "--out", str(out)], check=True, capture_output=True)
    else:
        run_experiment(experiment, job, out)
    cfg = from_dict(EXPERIMENTS[experiment][0], TINY[experiment])
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == set(cfg.methods)
    for method in cfg.methods:
        frame = pd.read_csv(out / f"{method}.csv")
        assert {"method", "solver", "init", "step", "V"} <= set(frame.columns)
        assert frame["V"].notna().all() and (frame["method"] == method).all()
    section = validate_config({"data": {"digits": {}}, "natgrad": {experiment: TINY[experiment]}})["natgrad"][experiment]
    assert sorted(p.name for p in out.iterdir()) == sorted(declared_outputs(experiment, section) + ["run.json"])
    assert json.loads((out / "run.json").read_text())["config"]["steps"] == TINY[experiment]["steps"]


def test_unknown_keys_are_rejected_by_name(tmp_path):
    job = {"tracking": {"enabled": False}, "device": "cpu", "stpes": 3}
    with pytest.raises(ConfigError, match="unknown key\\(s\\) 'stpes'"):
        run_experiment("rps", job, tmp_path)


def test_unknown_method_and_missing_lr_are_config_errors():
    with pytest.raises(ConfigError, match="not one of"):
        from_dict(GanConfig, {"methods": ["sgd"]})
    with pytest.raises(ConfigError, match="no step size"):
        from_dict(GanConfig, {"methods": ["ng_alt"], "lr": {"ng": 0.1}})



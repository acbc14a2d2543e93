"""The per-rule conda env files pin the same versions as requirements.lock, and every rule uses one.
(No conda channel is reachable here, so the envs are checked for consistency, not built.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def test_env_pins_equal_the_lock() -> None:
    pins = lock()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        assert "python=3.11" in spec["dependencies"]
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for req in pip:
            if req.startswith("-e"):
                continue
            name, version = req.split("==")
            assert pins[name.lower()] == version, f"{env.name}: {req} but the lock has {pins[name.lower()]}"


def test_requirements_in_is_pinned_in_the_lock() -> None:
    pins = lock()
    for line in (REPO / "requirements.in").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert pins[name.lower()] == version, line


def test_every_rule_has_conda_log_and_timing() -> None:
    """Every rule names its conda env and log, and its job writes its own timing record (--timing,
    ganopt.timing) rather than Snakemake's benchmark: directive, whose polling costs the Snakemake process CPU."""
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for rule in re.split(r"\n(?=rule |checkpoint )", text)[1:]:
            name = rule.split(":")[0]
            if name.strip() in ("rule all",):
                continue
            for field in ("conda:", "log:"):
                assert field in rule, f"{smk.name} {name} has no {field}"
            assert "--timing results/benchmarks/" in rule, f"{smk.name} {name}: no timing record"
            assert "benchmark:" not in rule, f"{smk.name} {name}: benchmark: directive"
            env = re.search(r'conda:\s*"\.\./\.\./envs/(\w+)\.yaml"', rule)
            assert env and (REPO / "envs" / f"{env.group(1)}.yaml").exists(), f"{name}: bad conda env"

"""Broken configs generated from the config definition (the schemas walked along config/smoke.yaml),
each rejected alike by `ganopt validate-config` and by the workflow, before any job, in one line
naming the key.

Mutations: every numeric leaf NaN, inf or a string (in turn, so that each kind hits about a third
of the leaves), negative (where the schema bounds it below by 0) and huge (where it has a maximum); every list empty (minItems) and with a duplicate (uniqueItems);
every closed mapping an unknown key and each required key missing; plus the cross-key rules and a
repeated YAML key. The workflow side parses the real Snakefile with Snakemake's API, one process
for all cases, running beside the in-process CLI checks (a `snakemake -n` per case costs seconds of
start-up; the API call ~0.05 s), and one case also goes through the `snakemake -n` command line."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ganopt import cli
from ganopt.config import _resolved, read_yaml, schema_node, validate_config

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "config" / "smoke.yaml"
NUMERIC = {"integer", "number"}
NOT_A_NUMBER = [("nan", math.nan), ("inf", math.inf), ("string", "a string")]


def _types(node: dict) -> set[str]:
    kind = node.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _key(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def _mutations(node: dict, file: str, value: object, path: tuple):
    """(path to change, new value or DELETE, key the rejection must name, label, schema node) per mutation."""
    node, file = _resolved(node, file)
    types = _types(node)
    if types & NUMERIC:
        label, bad = NOT_A_NUMBER[len(_key(path)) % 3]  # one of the three per leaf, all three across leaves
        yield path, bad, path, label, node
        low = node.get("minimum", node.get("exclusiveMinimum"))
        if low is not None and low >= 0:
            yield path, -1, path, "negative", node
        if "maximum" in node:
            yield path, 2 ** 70 if "integer" in types else 1e300, path, "huge", node
    if isinstance(value, list) and "array" in types:
        if node.get("minItems", 0) >= 1:
            yield path, [], path, "empty", node
        if node.get("uniqueItems") and value:
            yield path, value + [value[0]], path, "duplicate", node
        items = node.get("items")
        if isinstance(items, dict) and value:
            yield from _mutations(items, file, value[0], (*path, 0))
    if isinstance(value, dict) and "object" in types | ({"object"} if "properties" in node else set()):
        if node.get("additionalProperties") is False:
            yield (*path, "bogus_key"), 1, path, "unknown key", node
        for name in node.get("required", []):
            yield (*path, name), DELETE, path, "missing key", node
        props = node.get("properties", {})
        for name, sub in value.items():
            if name in props:
                yield from _mutations(props[name], file, sub, (*path, name))
            elif isinstance(node.get("additionalProperties"), dict):
                yield from _mutations(node["additionalProperties"], file, sub, (*path, name))


DELETE = object()


def _apply(config: dict, path: tuple, value: object) -> dict:
    config = copy.deepcopy(config)
    node = config
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return config


def broken_configs() -> list[tuple[str, dict | str, str]]:
    """(case id, config or YAML text, key the message must name), one case per schema location and mutation."""
    base = validate_config(read_yaml(BASE))
    root, file = schema_node("config.schema.yaml")
    cases, seen = [], set()
    for path, value, key, label, node in _mutations(root, file, base, ()):
        if (id(node), label) not in seen:  # the same schema definition elsewhere adds nothing
            seen.add((id(node), label))
            cases.append((f"{_key(key) or 'top'}:{label}", _apply(base, path, value), _key(key) or "<top level>"))
    raw = read_yaml(BASE)
    crosses = [
        ("gan.tune.seeds", lambda c: c["gan"]["tune"].update(seeds=[0])),
        ("gan.datasets.ring8.optimizers.adam.lr_g", lambda c: c["gan"]["datasets"]["ring8"]["optimizers"]["adam"]
         .update(lr_g=0.1)),
        ("gan.datasets.ring8.optimizers.adam", lambda c: c["gan"]["datasets"]["ring8"]["optimizers"]["adam"]
         .pop("grid")),
        ("gan.datasets.ring8.optimizers.adam.grid", lambda c: c["gan"]["tune"].update(activate=False)),
        ("gan.datasets.ring8.optimizers", lambda c: c["gan"]["datasets"]["ring8"]["optimizers"].pop("adam")),
        ("gan.datasets.grid25", lambda c: c["gan"]["datasets"].update(grid25=c["gan"]["datasets"]["ring8"])),
        ("gan.hparams.nsgda_layer", lambda c: c["gan"]["hparams"].update(nsgda_layer={"betas": [0.5, 0.9]})),
        ("natgrad.gan.lr", lambda c: c["natgrad"]["gan"].update(methods=["ng_alt"])),
        ("toy.optimizers.sgda.lr_g", lambda c: c["toy"].update(d=[100])),
    ]
    for key, edit in crosses:
        config = copy.deepcopy(raw)
        edit(config)
        cases.append((f"{key}:cross-key", config, key))
    text = BASE.read_text().replace("\ngan:\n", "\ngan:\n  seeds: [3]\n", 1)  # gan.seeds given twice
    cases.append(("gan.seeds:repeated YAML key", text, "gan.seeds"))
    return cases


CASES = broken_configs()


@pytest.fixture(scope="module")
def case_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    paths = []
    for i, (_, config, _) in enumerate(CASES):
        path = folder / f"case{i:03d}.yaml"
        path.write_text(config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False))
        paths.append(path)
    return paths


# Parses the Snakefile with each config file as `snakemake -n --configfile` does, in one process.
WORKFLOW_RUNNER = """
import contextlib, io, json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

repo, workdir = Path(sys.argv[1]), Path(sys.argv[2])
for path in sys.argv[3:]:
    try:
        with contextlib.redirect_stderr(io.StringIO()), SnakemakeApi(OutputSettings()) as api:
            workflow = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=repo / "Snakefile",
                                    config_settings=ConfigSettings(configfiles=[Path(path)]), workdir=workdir)
            workflow.dag().execute_workflow(executor="dryrun")
        verdict = "accepted"
    except SystemExit as exc:
        verdict = str(exc.code)
    except Exception as exc:
        verdict = f"{type(exc).__name__}: {exc}"
    print("VERDICT " + json.dumps([path, verdict]), flush=True)
"""


@pytest.fixture(scope="module")
def workflow_verdict(case_files: list[Path], tmp_path_factory: pytest.TempPathFactory):
    """A function: config path -> the workflow's exit message, read as the runner (working beside the
    CLI checks) reports it."""
    work = tmp_path_factory.mktemp("fuzz_work")
    proc = subprocess.Popen([sys.executable, "-c", WORKFLOW_RUNNER, str(REPO), str(work), *map(str, case_files)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    verdicts: dict[str, str] = {}

    def get(path: Path) -> str:
        while str(path) not in verdicts:
            line = proc.stdout.readline()
            assert line, f"the workflow runner stopped (exit {proc.wait()})"
            if line.startswith("VERDICT "):
                verdicts.update([json.loads(line.removeprefix("VERDICT "))])
        assert not list(work.glob("results/*/*")), "a job ran"
        return verdicts[str(path)]

    yield get
    proc.kill()
    proc.wait()


def test_enough_cases_of_every_kind() -> None:
    labels = {case_id.rsplit(":", 1)[1] for case_id, _, _ in CASES}
    assert len(CASES) >= 80
    assert {"nan", "inf", "negative", "huge", "string", "empty", "duplicate", "unknown key", "missing key",
            "cross-key", "repeated YAML key"} <= labels


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_cli_and_workflow_reject_alike(index: int, case_files: list[Path], workflow_verdict,
                                       capsys: pytest.CaptureFixture) -> None:
    _, _, key = CASES[index]
    path = case_files[index]
    assert cli.main(["validate-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganopt validate-config: error: invalid config: "), err
    assert f"config key '{key}'" in err, err
    message = err.removeprefix("ganopt validate-config: error: ").strip()
    assert workflow_verdict(path) == f"ganopt: {message}"


def test_snakemake_command_line_rejects_before_any_job(case_files: list[Path], tmp_path: Path) -> None:
    """The repeated-key case through `snakemake -n` itself: exit 1, one line naming the key, no traceback."""
    index = next(i for i, (case_id, _, _) in enumerate(CASES) if case_id.endswith("repeated YAML key"))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "--directory",
                           str(tmp_path), "--configfile", str(case_files[index])], capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ganopt: ")]
    assert proc.returncode == 1 and len(lines) == 1 and f"config key '{CASES[index][2]}'" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.glob("results/*/*"))

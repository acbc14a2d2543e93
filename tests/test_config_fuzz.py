"""Broken configs generated from the config definition (the schemas walked along config/smoke.yaml),
each rejected alike by `ganopt validate-config` and by the workflow, before any job, in one line
naming the key; and hostile config files (tags, keys, encodings, alias bombs, sizes, YTE, ...), each
refused in one line, in under a second, by both.

Mutations: every numeric leaf NaN, inf or a string (in turn, so that each kind hits about a third
of the leaves), negative (where the schema bounds it below by 0) and huge (where it has a maximum); every list empty (minItems) and with a duplicate (uniqueItems);
every closed mapping an unknown key and each required key missing; plus the cross-key rules and a
repeated YAML key. The workflow side is Snakemake's own command line (`snakemake -n --configfile`,
its profile and config loading included) called in one process for all cases, running beside the
in-process CLI checks (a `snakemake -n` per case costs seconds of start-up; a call ~0.1 s), and
two hostile cases also go through the `snakemake -n` command line itself."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import yaml

from ganopt import cli
from ganopt.config import _resolved, schema_node, validate_config
from ganopt.config_file import read_config_file

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
    base = validate_config(read_config_file(BASE))
    root, file = schema_node("config.schema.yaml")
    cases, seen = [], set()
    for path, value, key, label, node in _mutations(root, file, base, ()):
        if (id(node), label) not in seen:  # the same schema definition elsewhere adds nothing
            seen.add((id(node), label))
            cases.append((f"{_key(key) or 'top'}:{label}", _apply(base, path, value), _key(key) or "<top level>"))
    raw = read_config_file(BASE)
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
SMOKE = BASE.read_text()


def _hostile_cases() -> list[tuple[str, str | bytes | Callable[[], str], list[str], str]]:
    """(case id, file content, --config entries, what its one line must say): the issue's 14 hostile
    files, then more of the same families. `{tmp}` in a content is the case folder; a callable
    content is made when the files are written (the 53 MB one)."""
    smoke = SMOKE
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{cur}: &{cur} [{','.join([f'*{prev}'] * 9)}]\n" for prev, cur in zip("abcdefgh", "bcdefghi"))
    tens = "x0: &x0 [" + ",".join(["0"] * 10) + "]\n" + "".join(
        f"x{i}: &x{i} [{','.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 7))  # 10**7 values
    as_json = yaml.safe_load(smoke)
    as_json["gan"]["datasets"]["ring8"]["train"]["steps"] = "STEPS"
    study = "study: smoke"
    cases = [
        ("integer key", smoke + "1: x\n", "key 1 reads as !!int; config keys are strings"),
        ("complex key", smoke + "? [a, b]\n: 1\n", "a key is a list; config keys are strings"),
        ("python tag", smoke.replace(study, "study: !!python/object/apply:os.system ['touch {tmp}/RAN']"),
         "!!python/object/apply:os.system is not allowed"),
        ("bad timestamp", smoke.replace(study, "study: !!timestamp 2020-13-45"), "!!timestamp is not allowed"),
        ("20000-deep nesting", smoke + "extra: " + "[" * 20000 + "]" * 20000 + "\n", "nest"),
        ("non-UTF-8 bytes", smoke.replace(study, "study: sm\xffoke").encode("latin-1"),
         "is not UTF-8 text (byte 0xff at offset"),
        ("float seed", smoke.replace("seeds: [0]", "seeds: [1.0]"), "'gan.seeds[0]': 1.0 is not of type 'integer'"),
        ("JSON 2e1 steps", json.dumps(as_json).replace('"STEPS"', "2e1"),
         "'gan.datasets.ring8.train.steps': 20.0 is not of type 'integer'"),
        ("YTE", "__use_yte__: true\n__definitions__:\n  - open('{tmp}/RAN', 'w').close()\n" + smoke,
         "asks for YTE templating (__use_yte__), which ganopt does not run"),
        ("float tuning seed", smoke.replace("seeds: [100]", "seeds: [100.0]"),
         "'gan.tune.seeds[0]': 100.0 is not of type 'integer'"),
        ("garbage tracking URI", smoke.replace("uri: sqlite:///results/mlflow.db", "uri: garbage"),
         "'tracking.uri': 'garbage' is not an MLflow tracking store"),
        ("342-byte alias bomb", bomb, "expands to more than 10,000 values"),
        ("2.5 KB to 1e7 values", smoke + "extra:\n" + "".join(f"  {line}\n" for line in tens.splitlines()),
         "expands to more than 10,000 values"),
        ("53 MB of seeds", lambda: smoke.replace("seeds: [0]", "seeds: [" + "1234567, " * 6_000_000 + "0]"),
         "a config file is at most 1.0 MiB"),
        # beyond the list
        ("alias cycle", smoke + "extra: &a [*a]\n", "nested deeper than 32 levels"),
        ("40-deep block nesting", smoke + "".join(f"{'  ' * i}k:\n" for i in range(40)) + "  " * 40 + "v: 1\n",
         "nested deeper than 32 levels"),
        ("merge key", smoke + "base: &b {x: 1}\nmore:\n  <<: *b\n", "YAML merge keys (<<) are not supported"),
        ("set tag", smoke + "extra: !!set {a, b}\n", "!!set is not allowed"),
        ("binary tag", smoke + "extra: !!binary aGVsbG8=\n", "!!binary is not allowed"),
        ("null key", smoke + "~: 1\n", "key ~ reads as !!null"),
        ("boolean key", smoke + "yes: 1\n", "key yes reads as !!bool"),
        ("top-level list", "- 1\n- 2\n", "must hold a mapping of section names to settings, not a list"),
        ("UTF-16", smoke.encode("utf-16"), "is not UTF-8 text"),
        ("JSON repeated key", json.dumps(as_json).replace('"STEPS"', "20").replace('{"study"', '{"study": "a", "study"'),
         "config key 'study': duplicate key"),
        ("overflowing float", smoke.replace("steps: 20,", "steps: 1e400,"), "inf is not a finite number"),
        ("900 KB string", smoke.replace(study, "study: " + "x" * 900_000 + "!"), "... does not match"),
        ("tab indentation", smoke.replace("  ring8: {n_train", "\tring8: {n_train"), "is not valid YAML"),
        ("garbage sqlite store", smoke.replace("sqlite:///results/mlflow.db", "sqlite:///{tmp}/garbage.db"),
         "garbage.db' is not a readable sqlite database"),
        ("store under a file", smoke.replace("sqlite:///results/mlflow.db", "sqlite:///{tmp}/garbage.db/mlflow.db"),
         "garbage.db/mlflow.db' cannot be written"),
        ("journal under a file", smoke.replace("journal: results/tracking", "journal: {tmp}/garbage.db/tracking"),
         "config key 'tracking.journal':"),
        ("multi-document file", smoke + "---\nstudy: other\n", "is not valid YAML"),
        ("control character", smoke.replace(study, "study: sm\x07oke"), "is not valid YAML"),
        ("integer override", smoke, ["toy={n_seeds: 3.0}"], "'toy.n_seeds': 3.0 is not of type 'integer'"),
        ("tagged override", smoke, ["toy=!!python/name:os.system"], "!!python/name:os.system is not allowed"),
    ]
    return [(name, text, rest[0] if len(rest) == 2 else [], rest[-1]) for name, text, *rest in cases]


HOSTILE = _hostile_cases()


@pytest.fixture(scope="module")
def case_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    paths = []
    for i, (_, config, _) in enumerate(CASES):
        path = folder / f"case{i:03d}.yaml"
        path.write_text(config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "garbage.db").write_bytes(b"not a database, but 4 KiB of it\n" * 128)
    paths = []
    for i, (name, content, _, _) in enumerate(HOSTILE):
        content = content() if callable(content) else content
        content = content if isinstance(content, bytes) else content.encode()
        path = folder / f"hostile{i:02d}{'.json' if 'JSON' in name else '.yaml'}"
        path.write_bytes(content.replace(b"{tmp}", str(folder).encode()))
        paths.append(path)
    return paths


# `snakemake -n --configfile X [--config ...]` per case, through Snakemake's own command line (its
# profile and config loading included), in one process; each verdict is the exit message and time.
WORKFLOW_RUNNER = """
import contextlib, io, json, sys, time
from snakemake.cli import main

snakefile, workdir = sys.argv[1:3]
for args in json.loads(sys.stdin.readline()):
    out = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
            main(["-s", snakefile, "-n", "--directory", workdir, *args])
        verdict = "accepted"
    except SystemExit as exc:
        verdict = "accepted" if exc.code in (0, None) else str(exc.code)
    seconds = time.perf_counter() - start
    print("VERDICT " + json.dumps([args, verdict, seconds, out.getvalue()]), flush=True)
"""


def _args(path: Path, overrides: list[str] = ()) -> list[str]:
    return ["--configfile", str(path), *(["--config", *overrides] if overrides else [])]


@pytest.fixture(scope="module")
def workflow_verdict(case_files: list[Path], hostile_files: list[Path], tmp_path_factory: pytest.TempPathFactory):
    """A function: Snakemake arguments -> (the workflow's exit message, seconds, what it printed),
    read as the runner (working beside the CLI checks) reports it. The runner first plans the smoke
    study (imports and caches warm), untimed."""
    work = tmp_path_factory.mktemp("fuzz_work")
    proc = subprocess.Popen([sys.executable, "-c", WORKFLOW_RUNNER, str(REPO / "Snakefile"), str(work)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    runs = [_args(BASE)] + [_args(path, overrides) for path, (_, _, overrides, _) in zip(hostile_files, HOSTILE)]
    runs += [_args(path) for path in case_files]
    proc.stdin.write(json.dumps(runs) + "\n")
    proc.stdin.close()
    verdicts: dict[str, tuple[str, float, str]] = {}

    def get(args: list[str]) -> tuple[str, float, str]:
        while json.dumps(args) not in verdicts:
            line = proc.stdout.readline()
            assert line, f"the workflow runner stopped (exit {proc.wait()})"
            if line.startswith("VERDICT "):
                done, *verdict = json.loads(line.removeprefix("VERDICT "))
                verdicts[json.dumps(done)] = tuple(verdict)
        assert not list(work.glob("results/*/*")), "a job ran"
        return verdicts[json.dumps(args)]

    assert get(_args(BASE))[0] == "accepted"
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
    assert workflow_verdict(_args(path))[0] == f"ganopt: {message}"


@pytest.mark.parametrize("index", range(len(HOSTILE)), ids=[c[0] for c in HOSTILE])
def test_hostile_config_gets_one_line_from_both_in_under_a_second(index: int, hostile_files: list[Path],
                                                                   workflow_verdict, capsys: pytest.CaptureFixture) -> None:
    """`ganopt validate-config FILE [--config ...]` and `snakemake -n --configfile FILE [--config ...]`
    refuse the file with the same one line, within a second each, and nothing in it ran."""
    _, _, overrides, expected = HOSTILE[index]
    path = hostile_files[index]
    start = time.perf_counter()
    code = cli.main(["validate-config", str(path), *(["--config", *overrides] if overrides else [])])
    seconds = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert code == 2 and not out and err.count("\n") == 1 and err.startswith("ganopt validate-config: error: "), err
    assert expected in err and len(err) < 600, err
    message = err.removeprefix("ganopt validate-config: error: ").strip()
    verdict, workflow_seconds, printed = workflow_verdict(_args(path, overrides))
    assert verdict == f"ganopt: {message}" and "Traceback" not in printed, printed
    assert seconds < 1 and workflow_seconds < 1, (seconds, workflow_seconds)
    assert not (path.parent / "RAN").exists(), "the config's code ran"


@pytest.mark.parametrize("case", ["YTE", "53 MB of seeds"])
def test_snakemake_command_line_refuses_before_reading(case: str, hostile_files: list[Path], tmp_path: Path) -> None:
    """Through `snakemake -n` itself: Snakemake's own config loader never reads the file (no YTE
    code runs, 53 MB are not parsed); exit 1 with one line, no traceback, no job."""
    index = next(i for i, hostile in enumerate(HOSTILE) if hostile[0] == case)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "--directory",
                           str(tmp_path), "--configfile", str(hostile_files[index])], capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ganopt: ")]
    assert proc.returncode == 1 and len(lines) == 1 and HOSTILE[index][3] in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.glob("results/*/*"))
    assert not (hostile_files[index].parent / "RAN").exists()

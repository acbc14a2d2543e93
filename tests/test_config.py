"""The study config: schema defaults, and one clear message naming the key for each broken config."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from ganopt.config import from_dict, load_config, validate_config
from ganopt.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BASE = {"data": {"ring8": {"n_train": 100}}}


def with_change(path: str, value: object) -> dict:
    """BASE with `value` set at dotted `path` (creating mappings on the way)."""
    cfg = copy.deepcopy(BASE)
    node = cfg
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return cfg


BROKEN = [
    (with_change("studdy", "x"), "config key '<top level>': unknown key(s) 'studdy'"),
    (with_change("data.ring8.n_trian", 5), "config key 'data.ring8': unknown key(s) 'n_trian'"),
    (with_change("data.ring8.n_train", 0), "config key 'data.ring8.n_train': 0 is less than the minimum of 1"),
    (with_change("data.ring8.n_train", "many"), "config key 'data.ring8.n_train': 'many' is not of type 'integer'"),
    (with_change("data.ring8.std", -0.1), "config key 'data.ring8.std': -0.1 is less than or equal to the minimum"),
    (with_change("data.digits", {"size": 12}), "config key 'data.digits.size': 12 is not one of [8, 16]"),
    (with_change("data.svhn", {}), "config key 'data': unknown key(s) 'svhn'"),
    ({"data": {}}, "config key 'data': {} should be non-empty"),
    ({}, "config key '<top level>': 'data' is a required property"),
    (with_change("device", "gpu"), "config key 'device': 'gpu' does not match"),
    (with_change("tracking.uri", 3), "config key 'tracking.uri': 3 is not of type 'string'"),
    (with_change("tracking.enabled", "yes please"), "config key 'tracking.enabled': 'yes please' is not of type 'boolean'"),
    (with_change("tracking.experiment", ""), "config key 'tracking.experiment': '' should be non-empty"),
    (with_change("data.digits", {"test_fraction": 1.5}), "config key 'data.digits.test_fraction': 1.5 is greater than"),
    (with_change("study", "my study!"), "config key 'study': 'my study!' does not match"),
]


@pytest.mark.parametrize("config, message", BROKEN, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BROKEN)])
def test_broken_config_names_the_key(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value)


def test_all_problems_reported_at_once() -> None:
    cfg = with_change("device", "gpu")
    cfg["data"]["ring8"]["n_trian"] = 1
    text = str(pytest.raises(ConfigError, validate_config, cfg).value)
    assert "'device'" in text and "'n_trian'" in text


def test_defaults_are_filled() -> None:
    cfg = validate_config({"data": {"ring8": None, "digits": {}}})
    assert cfg["device"] == "auto" and cfg["study"] == "default"
    assert cfg["tracking"] == {"enabled": True, "uri": "sqlite:///results/mlflow.db",
                               "artifact_location": "results/mlartifacts", "experiment": "ganopt",
                               "journal": "results/tracking", "sync": "study"}
    assert cfg["data"]["digits"] == {"size": 8, "test_fraction": 0.2, "seed": 1234}


@pytest.mark.parametrize("path", sorted(p.relative_to(REPO) for p in [REPO / "config.yaml", *REPO.glob("config/*.yaml")]))
def test_shipped_configs_are_valid(path: Path) -> None:
    load_config(REPO / path)


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@dataclasses.dataclass(frozen=True)
class Inner:
    lr: float = 0.1
    betas: tuple = (0.9, 0.999)


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = Inner()


def test_from_dict_builds_nested_and_rejects_unknown_keys() -> None:
    obj = from_dict(Outer, {"name": "a", "inner": {"lr": 1, "betas": [0.5, 0.9]}})
    assert obj.inner.lr == 1.0 and isinstance(obj.inner.lr, float) and obj.inner.betas == (0.5, 0.9)
    with pytest.raises(ConfigError, match=r"'gan.inner': unknown key\(s\) 'lrr'"):
        from_dict(Outer, {"name": "a", "inner": {"lrr": 1}}, where="gan")
    with pytest.raises(ConfigError, match="'gan'"):
        from_dict(Outer, {}, where="gan")


def test_schema_descriptions_everywhere(repo: Path) -> None:
    """Every property of every section schema says what it is (the schema is the config's manual)."""
    missing = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub:
                    missing.append(f"{where}.{name}")
            for key, sub in node.items():
                walk(sub, f"{where}.{key}" if key not in ("properties", "$defs") else where)

    for path in (repo / "workflow" / "schemas").glob("*.schema.yaml"):
        walk(yaml.safe_load(path.read_text()), path.stem)
    assert not missing, f"schema keys without description: {missing}"


def test_bound_dataclasses_are_their_schema_sections() -> None:
    """Every config dataclass bound with schema_section has exactly its schema's keys as fields and
    takes the schema's defaults (the schema is the one definition)."""
    import importlib
    import json

    from ganopt.config import BOUND, _default

    src = REPO / "src"
    for path in sorted((src / "ganopt").rglob("*.py")):
        importlib.import_module(".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__"))
    assert len(BOUND) >= 20
    for cls, binding in BOUND.items():
        refs = binding.field_refs()
        names = {f.name for f in dataclasses.fields(cls)}
        if binding.ref is None:  # a job: only some fields bound
            assert set(refs) <= names, cls.__name__
            continue
        assert names == set(refs), cls.__name__
        defaults = {name: _default(*ref) for name, ref in refs.items()}
        given = {name: [0.1] * 3 for name, (has, _) in defaults.items() if not has}  # the toy's per-d step sizes only
        assert set(given) <= {"lr_g", "lr_d"}, cls.__name__
        built = json.loads(json.dumps(dataclasses.asdict(from_dict(cls, dict(given)))))
        for name, (has, value) in defaults.items():
            if has and not isinstance(value, dict):  # sections: their own fields are checked as classes
                assert built[name] == value, f"{cls.__name__}.{name}"


# --- the one reader of config text (ganopt.config_file) ---------------------------------------------

def test_reader_reads_numbers_as_yaml_1_2_and_json_do() -> None:
    from ganopt.config_file import parse_config_text

    data = parse_config_text("a: 2e1\nb: 1e-3\nc: -1.5E+2\nd: 1.0e-3\ne: e5\nf: 1e\ng: 0x10\nh: '2e1'\n", "text")
    assert data == {"a": 20.0, "b": 0.001, "c": -150.0, "d": 0.001, "e": "e5", "f": "1e", "g": 16, "h": "2e1"}


def test_reader_expands_aliases_into_independent_values() -> None:
    from ganopt.config_file import parse_config_text

    data = parse_config_text("a: &x {n: [1, 2]}\nb: *x\n", "text")
    data["a"]["n"].append(3)
    assert data["b"] == {"n": [1, 2]}


def test_reader_walks_each_alias_node_once() -> None:
    """A DAG of 30 levels, each naming the one below twice (2**30 values once expanded), is measured
    in one pass over its 30 nodes and refused."""
    from ganopt.config_file import parse_config_text

    text = "l0: &l0 [1]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 30))
    with pytest.raises(ConfigError, match="expands to more than 10,000 values"):
        parse_config_text(text, "text")


def test_study_config_merges_files_then_typed_overrides(tmp_path: Path) -> None:
    from ganopt.study import study_config

    extra = tmp_path / "extra.yaml"
    extra.write_text("toy: {steps_per_log: 50}\n")
    config = study_config([REPO / "config" / "smoke.yaml", extra], ["toy={n_seeds: 3}", "gan={seeds: [4, 5]}"])
    assert config["toy"]["steps_per_log"] == 50 and config["toy"]["n_seeds"] == 3
    assert config["gan"]["seeds"] == [4, 5] and config["gan"]["optimizers"] == ["adam", "nsgda_layer"]
    assert study_config([REPO / "config" / "smoke.yaml"], {"toy": {"n_seeds": 7}})["toy"]["n_seeds"] == 7


@pytest.mark.parametrize("entry, message", [
    ("toy.steps=3", "nested keys go in the value: toy={steps: 3}"),
    ("toy", "is not section=value"),
    ("1x=3", "is not section=value"),
    ("toy={steps: [", "--config 'toy={steps: [' is not valid YAML"),
    ("toy={1: 2}", "key 1 reads as !!int"),
])
def test_bad_overrides_name_the_entry(entry: str, message: str) -> None:
    from ganopt.config_file import parse_overrides

    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_overrides([entry])


@pytest.mark.parametrize("uri, enabled, message", [
    ("sqlite:///results/mlflow.db", True, None),
    ("sqlite:////tmp/ganopt-test-store/sub/mlflow.db", True, None),
    ("http://localhost:5000", True, None),
    ("postgresql+psycopg2://user@host/db", True, None),
    ("garbage", False, None),  # tracking off: the URI is never used
    ("garbage", True, "is not an MLflow tracking store"),
    ("./mlruns", True, "is not an MLflow tracking store"),  # MLflow 3 refuses its file store
    ("file:///tmp/mlruns", True, "is not an MLflow tracking store"),
    ("sqlite://", True, "names no file"),
    ("sqlite:///afile/mlflow.db", True, "config key 'tracking.uri': 'afile/mlflow.db' cannot be written"),
])
def test_tracking_store_is_checked_before_any_job(uri: str, enabled: bool, message: str | None, in_tmp: Path) -> None:
    from ganopt.tracking import TrackingConfig, check_store

    (in_tmp / "afile").write_text("a file, not a folder")
    cfg = TrackingConfig(enabled=enabled, uri=uri)
    if message is None:
        check_store(cfg)
    else:
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_store(cfg)


@pytest.mark.parametrize("key", ["journal", "artifact_location"])
def test_tracking_folders_are_checked_before_any_job(key: str, in_tmp: Path) -> None:
    from ganopt.tracking import TrackingConfig, check_store

    (in_tmp / "afile").write_text("a file, not a folder")
    check_store(TrackingConfig(**{key: "results/x"}))
    with pytest.raises(ConfigError, match=re.escape(f"config key 'tracking.{key}': 'afile/x' cannot be written")):
        check_store(TrackingConfig(**{key: "afile/x"}))
    check_store(TrackingConfig(enabled=False, **{key: "afile/x"}))

"""Configuration: the JSON schemas in workflow/schemas are the one definition of every key (type,
bounds, default, description). `validate_config` checks a study config against them plus the
cross-key rules of `cross_key_errors`; config dataclasses bound with `schema_section` take their
defaults from the schema, and `from_dict` builds them from plain dicts, rejecting bad keys by name."""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import yaml

from ganopt.config_file import BASE, key_path, read_config_file, shorten
from ganopt.errors import ConfigError

if TYPE_CHECKING:
    import jsonschema
    from referencing import Registry

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"
T = TypeVar("T")
# Schema nodes that job fields outside any section share (schema_section's `extra`).
DEVICE = "config.schema.yaml#/properties/device"
SEED = "gan.schema.yaml#/properties/seeds/items"
LR = "gan.schema.yaml#/$defs/lr"


# --- the schema as the source of defaults -----------------------------------------------------------

@functools.cache
def schema_file(name: str, schema_dir: Path = SCHEMA_DIR) -> dict:
    """One `*.schema.yaml`, parsed once per process (callers must not mutate it)."""
    return yaml.load((schema_dir / name).read_text(), Loader=BASE)


def schema_node(ref: str, base: str = "") -> tuple[dict, str]:
    """The node at `ref` ("file.schema.yaml#/json/pointer", or "#/..." inside file `base`) and its file."""
    file, _, pointer = ref.partition("#")
    file = file or base
    node: Any = schema_file(file)
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node, file


def _resolved(node: dict, file: str) -> tuple[dict, str]:
    """Follow `$ref` until a node without one (the site's own keys, e.g. its default, are ignored)."""
    while "$ref" in node:
        node, file = schema_node(node["$ref"], file)
    return node, file


def _default(node: dict, file: str) -> tuple[bool, Any]:
    """(has a default, the default) of a property: its own `default`, else that of what it refers to."""
    while "default" not in node:
        if "$ref" not in node:
            return False, None
        node, file = schema_node(node["$ref"], file)
    return True, node["default"]


@dataclasses.dataclass(frozen=True)
class Binding:
    """Where a config dataclass's fields are defined: the section `ref` (its properties), minus
    `omit` (keys the workflow consumes before the job), plus `extra` fields defined elsewhere."""

    ref: str | None                        # None: a job, not a section; only `extra` fields are bound
    omit: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()

    def field_refs(self) -> dict[str, tuple[dict, str]]:
        """Field name -> (schema node, its file) for every field the schema defines."""
        out = {}
        if self.ref is not None:
            section, file = _resolved(*schema_node(self.ref))
            out = {name: (node, file) for name, node in section.get("properties", {}).items() if name not in self.omit}
        return out | {name: schema_node(ref) for name, ref in self.extra}


BOUND: dict[type, Binding] = {}


def schema_section(ref: str | None, omit: tuple[str, ...] = (), **extra: str) -> Callable[[type[T]], type[T]]:
    """Bind a config dataclass to the schema node `ref` ("gan.schema.yaml#/$defs/train"): fields left
    out of the constructor (or of `from_dict`'s dict) get the schema's default, read lazily, once,
    and `from_dict` checks given values against the schema's enum and bounds.

    Fields without a schema default stay required. `extra` maps fields outside the section to
    their own schema node (e.g. device="config.schema.yaml#/properties/device"); a job class that
    is no section passes ref=None and binds only those. Put it above `@dataclass`; a test checks
    that a section's fields equal the schema's properties."""

    def bind(cls: type[T]) -> type[T]:
        BOUND[cls] = Binding(ref, tuple(omit), tuple(extra.items()))
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            given = dict(zip(names, args)) | kwargs
            for name, value in _defaults(cls).items():
                if name not in given:
                    given[name] = value
            init(self, **given)

        cls.__init__ = __init__  # type: ignore[misc]
        return cls

    return bind


@functools.cache
def _raw_defaults(cls: type) -> dict[str, Any]:
    out = {}
    for name, (node, file) in BOUND[cls].field_refs().items():
        has, value = _default(node, file)
        if has:
            out[name] = value
    return out


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _defaults(cls: type) -> dict[str, Any]:
    """The schema defaults of a bound class, converted to its field types (fresh objects each call)."""
    hints = _hints(cls)
    return {name: _convert(hints[name], copy.deepcopy(value), f"{cls.__name__}.{name}")
            for name, value in _raw_defaults(cls).items()}


# --- validation of the study config -----------------------------------------------------------------

def _is_integer(checker: Any, instance: Any) -> bool:
    """An integer is an int: JSON schema's 1.0 would reach a job as a float seed or step count."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _with_defaults(validator_cls: type) -> type:
    """A validator class that also writes each property's `default` into the instance, and whose
    integers are ints (not integral floats)."""
    import jsonschema

    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001 - jsonschema hook
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults},
                                        type_checker=validator_cls.TYPE_CHECKER.redefine("integer", _is_integer))


def _message(err: jsonschema.ValidationError) -> str:
    where = shorten(key_path(err.absolute_path), 200)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed), key=str)  # a mapping given by the API may have other keys
        if err.schema.get("patternProperties"):
            return f"config key '{where}': {shorten(', '.join(map(repr, extra)), 200)} is not allowed here"
        return (f"config key '{where}': unknown key(s) {shorten(', '.join(map(repr, extra)), 200)}"
                f" (allowed: {', '.join(allowed) or 'none'})")
    if err.validator == "minItems" and err.validator_value == 1:
        return f"config key '{where}': the list must not be empty"
    shown = repr(err.instance)
    return f"config key '{where}': {err.message.replace(shown, shorten(shown)) if len(shown) > 60 else err.message}"


@functools.cache
def load_schema_registry(schema_dir: Path = SCHEMA_DIR) -> Registry:
    """Every `*.schema.yaml` in the schema folder, addressable by file name in `$ref`."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [(p.name, Resource.from_contents(schema_file(p.name, schema_dir), default_specification=DRAFT202012))
                 for p in sorted(schema_dir.glob("*.schema.yaml"))]
    return Registry().with_resources(resources)


@functools.cache
def _validator(schema_dir: Path) -> jsonschema.protocols.Validator:
    import jsonschema  # imported here: jobs use from_dict only, and this import costs ~0.5 s

    cls = _with_defaults(jsonschema.Draft202012Validator)
    return cls(schema_file("config.schema.yaml", schema_dir), registry=load_schema_registry(schema_dir))


def _non_finite(node: Any, path: tuple = ()) -> list[str]:
    """NaN and +-inf anywhere (YAML's .nan/.inf are floats, which JSON schema `number` accepts)."""
    if isinstance(node, float) and not math.isfinite(node):
        return [f"config key '{key_path(path)}': {node} is not a finite number"]
    if isinstance(node, dict):
        return [m for k, v in node.items() for m in _non_finite(v, (*path, k))]
    if isinstance(node, list):
        return [m for i, v in enumerate(node) for m in _non_finite(v, (*path, i))]
    return []


def validate_config(config: dict, schema_dir: Path = SCHEMA_DIR) -> dict:
    """Validate the study config (schema, finite numbers, cross-key rules), fill defaults in place.

    The one check of the study config: `ganopt validate-config` and the workflow both call it.
    Raises ConfigError listing every problem on one line, each naming its key (e.g. `gan.seeds[1]`)."""
    if not isinstance(config, dict):
        raise ConfigError("invalid config: the config must be a mapping of section names to settings")
    errors = sorted(_validator(Path(schema_dir)).iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    lines = [shorten(line, 500) for line in _non_finite(config) + [_message(e) for e in errors]]
    if not lines:
        lines = cross_key_errors(config)
    if lines:
        raise ConfigError("invalid config: " + "; ".join(dict.fromkeys(lines)))
    return config


def cross_key_errors(config: dict) -> list[str]:
    """Every rule between keys that the JSON schema cannot express, on a schema-valid config."""
    out: list[str] = []
    if "gan" in config:
        out += _gan_errors(config)
    for name, section in config["natgrad"].items():
        if isinstance(section, dict):
            missing = [m for m in section["methods"] if m not in section["lr"]]
            if missing:
                out.append(f"config key 'natgrad.{name}.lr': no step size for method(s) {', '.join(missing)}")
    toy = config["toy"]
    for optimizer, steps in toy["optimizers"].items():
        out += [f"config key 'toy.optimizers.{optimizer}.{lr}': needs one step size per toy.d ({len(toy['d'])}), "
                f"got {len(steps[lr])}" for lr in ("lr_g", "lr_d") if len(steps[lr]) != len(toy["d"])]
    return out


def _gan_errors(config: dict) -> list[str]:
    gan, out = config["gan"], []
    tuned = gan["tune"]["activate"]
    for dataset, section in gan["datasets"].items():
        where = f"gan.datasets.{dataset}"
        if dataset not in config["data"]:
            out.append(f"config key '{where}': dataset '{dataset}' is not prepared: add it under data")
        missing = [o for o in gan["optimizers"] if o not in section["optimizers"]]
        if missing:
            out.append(f"config key '{where}.optimizers': no step sizes for {', '.join(missing)}")
        for optimizer, steps in section["optimizers"].items():
            key = f"{where}.optimizers.{optimizer}"
            if tuned:
                out += [f"config key '{key}.{lr}': not used while gan.tune.activate is true: put step sizes in grid"
                        for lr in ("lr_g", "lr_d") if lr in steps]
                if "grid" not in steps:
                    out.append(f"config key '{key}': 'grid' is required while gan.tune.activate is true")
            else:
                if "grid" in steps:
                    out.append(f"config key '{key}.grid': not used while gan.tune.activate is false: "
                               "give lr_g and lr_d")
                out += [f"config key '{key}': '{lr}' is required while gan.tune.activate is false"
                        for lr in ("lr_g", "lr_d") if lr not in steps]
    shared = sorted(set(gan["seeds"]) & set(gan["tune"]["seeds"])) if tuned else []
    if shared:
        out.append(f"config key 'gan.tune.seeds': seed(s) {shared} are also in gan.seeds: tuning seeds must be separate")
    return out


def load_config(path: str | Path, schema_dir: Path = SCHEMA_DIR) -> dict:
    """Read a config file with the one reader (ganopt.config_file) and validate it (defaults filled)."""
    return validate_config(read_config_file(path), schema_dir)


# --- typed configs of jobs -------------------------------------------------------------------------

def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from `data`, recursing into nested dataclasses.

    Unknown keys, missing required fields, values of the wrong type, NaN/inf and values outside the
    schema's bounds raise ConfigError naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{where}' must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"'{where}': unknown key(s) {', '.join(map(repr, unknown))} "
                          f"(allowed: {', '.join(sorted(fields))})")
    defaults = _defaults(cls) if cls in BOUND else {}
    missing = [name for name, f in fields.items() if name not in data and name not in defaults and f.init
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"'{where}' lacks the required key(s) {', '.join(map(repr, missing))}")
    hints = _hints(cls)
    nodes = _field_nodes(cls) if cls in BOUND else {}
    kwargs = {}
    for name, value in data.items():
        if name in nodes:
            _check_bounds(*nodes[name], value, f"{where}.{name}")
        kwargs[name] = _convert(hints[name], value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"'{where}': {exc}") from None


@functools.cache
def _field_nodes(cls: type) -> dict[str, tuple[dict, str]]:
    return {name: _resolved(*ref) for name, ref in BOUND[cls].field_refs().items()}


def _check_bounds(node: dict, file: str, value: Any, where: str) -> None:
    """The schema's enum and numeric bounds on a job's value (jobs skip jsonschema: its import is slow)."""
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            _check_bounds(*_resolved(node["items"], file), item, f"{where}[{i}]")
        return
    if "enum" in node and value not in node["enum"]:
        raise ConfigError(f"'{where}': {value!r} is not one of {node['enum']}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    for key, fails in (("minimum", lambda b: value < b), ("exclusiveMinimum", lambda b: value <= b),
                       ("maximum", lambda b: value > b), ("exclusiveMaximum", lambda b: value >= b)):
        if key in node and fails(node[key]):
            raise ConfigError(f"'{where}': {value!r} is out of range ({key} {node[key]})")


def require_keys(data: dict, where: str, **types: Any) -> None:
    """Check that job dict `data` holds each key of `types` with a value of that type (as from_dict does)."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{where}' must be a mapping, got {type(data).__name__}")
    missing = [key for key in types if key not in data]
    if missing:
        raise ConfigError(f"'{where}' lacks the required key(s) {', '.join(map(repr, missing))}")
    for key, hint in types.items():
        _convert(hint, data[key], f"{where}.{key}")


_SCALARS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _wrong(where: str, wanted: str, value: Any) -> ConfigError:
    shown = repr(value)
    return ConfigError(f"'{where}' must be {wanted}, got {type(value).__name__} "
                       f"{shown[:60] + '...' if len(shown) > 60 else shown}")


def _convert(hint: Any, value: Any, where: str) -> Any:
    """`value` checked against type hint `hint` (scalars, lists, tuples, dicts, optionals, dataclasses);
    ints become floats where floats are expected (an integer is an int: 2.0 is no count), lists tuples.
    Other hints (tensors, callables) pass as they are."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for arg in options:
            try:
                return _convert(arg, value, where)
            except ConfigError:
                if len(options) == 1 or (dataclasses.is_dataclass(arg) and isinstance(value, dict)):
                    raise
        raise _wrong(where, " or ".join(_SCALARS.get(a, getattr(a, "__name__", str(a))) for a in options), value)
    if hint in _SCALARS:
        if isinstance(value, bool) != (hint is bool):  # bool subclasses int, but true is no count
            raise _wrong(where, _SCALARS[hint], value)
        if hint is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, hint):
            raise _wrong(where, _SCALARS[hint], value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"'{where}': {value} is not a finite number")
        return value
    if hint is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _wrong(where, "a list", value)
        if args and args[-1] is not Ellipsis and len(args) != len(value):
            raise _wrong(where, f"a list of {len(args)} items", value)
        items = args[:1] * len(value) if args[-1:] == (Ellipsis,) else args or (Any,) * len(value)
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(items, value)))
    if hint is list or origin is list:
        if not isinstance(value, list):
            raise _wrong(where, "a list", value)
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise _wrong(where, "a mapping", value)
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()} if args else value
    return value


def to_dict(obj: Any) -> dict:
    """A dataclass config back to plain JSON-able data (tuples become lists)."""
    return dataclasses.asdict(obj)

"""Configuration: the study config validated against its JSON schema (defaults filled), and
typed per-command configs built from plain dicts with unknown keys rejected by name."""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from ganopt.errors import ConfigError

if TYPE_CHECKING:
    import jsonschema
    from referencing import Registry

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"
T = TypeVar("T")


def _key_path(path: typing.Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _with_defaults(validator_cls: type) -> type:
    """A validator class that also writes each property's `default` into the instance."""
    import jsonschema

    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001 - jsonschema hook
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def _message(err: "jsonschema.ValidationError") -> str:
    where = _key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        if err.schema.get("patternProperties"):
            return f"config key '{where}': {', '.join(map(repr, extra))} is not allowed here"
        return (f"config key '{where}': unknown key(s) {', '.join(map(repr, extra))}"
                f" (allowed: {', '.join(allowed)})")
    if err.validator == "minItems" and err.validator_value == 1:
        return f"config key '{where}': the list must not be empty"
    return f"config key '{where}': {err.message}"


def load_schema_registry(schema_dir: Path = SCHEMA_DIR) -> "Registry":
    """Every `*.schema.yaml` in the schema folder, addressable by file name in `$ref`."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [(p.name, Resource.from_contents(yaml.safe_load(p.read_text()), default_specification=DRAFT202012))
                 for p in sorted(schema_dir.glob("*.schema.yaml"))]
    return Registry().with_resources(resources)


def validate_config(config: dict, schema_dir: Path = SCHEMA_DIR) -> dict:
    """Validate the study config, fill schema defaults in place and return it.

    Raises ConfigError listing every problem, each naming its key (e.g. `gan.seeds[1]`)."""
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of section names to settings")
    import jsonschema  # imported here: jobs use from_dict only, and this import costs ~0.5 s

    schema = yaml.safe_load((schema_dir / "config.schema.yaml").read_text())
    cls = _with_defaults(jsonschema.Draft202012Validator)
    validator = cls(schema, registry=load_schema_registry(schema_dir))
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        lines = [_message(e) for e in errors]
        raise ConfigError("invalid config: " + "; ".join(dict.fromkeys(lines)))
    return config


def load_config(path: str | Path, schema_dir: Path = SCHEMA_DIR) -> dict:
    """Read a YAML config file and validate it (defaults filled)."""
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}' is not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file '{path}' cannot be read ({exc.strerror})") from None
    return validate_config(config, schema_dir)


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from `data`, recursing into nested dataclasses.

    Unknown keys, missing required fields and values of the wrong basic type raise ConfigError naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{where}' must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"'{where}': unknown key(s) {', '.join(map(repr, unknown))} "
                          f"(allowed: {', '.join(sorted(fields))})")
    missing = [name for name, f in fields.items() if name not in data and f.init
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"'{where}' lacks the required key(s) {', '.join(map(repr, missing))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"'{where}': {exc}") from None


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
    ints become floats where floats are expected, integral floats ints where ints are, lists tuples.
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
        if hint is int and isinstance(value, float) and value.is_integer():
            return int(value)  # JSON schema counts 2.0 as an integer, so the jobs do too
        if hint is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, hint):
            raise _wrong(where, _SCALARS[hint], value)
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

"""The one reader of config text (study config files, `--config key=value` overrides, job files):
plain YAML data only, bounded, every problem one ConfigError line naming the file (and line).

Plain data: strings, numbers, booleans, null, lists and mappings with string keys; no other tag
(no `!!python/...`, no dates), no YAML merge keys, no YTE templating (`__use_yte__`). Numbers
read as YAML 1.2 and JSON read them (`2e1` is the float 20.0, not a string), so a file means the
same whether it is written as YAML or JSON. Bounded: the file's size, its nesting and the number of
values after expanding YAML aliases, each YAML node walked once, so an alias bomb is refused in
milliseconds instead of being expanded."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from ganopt.errors import ConfigError

MAX_BYTES = 1 << 20     # the default study's file is 7 KB
MAX_VALUES = 10_000     # values once aliases are expanded; the default study has ~300
MAX_DEPTH = 32          # nesting levels; a study config uses 6
TAG = "tag:yaml.org,2002:"
PLAIN = {f"{TAG}{kind}" for kind in ("str", "int", "float", "bool", "null")}
PLAIN_DATA = "a config holds plain strings, numbers, booleans, null, lists and mappings"
BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster start-up of every job


class Loader(BASE):  # type: ignore[misc,valid-type]
    """Safe YAML, plus YAML 1.2's exponent numbers without a dot (2e1, 1e-3), which YAML 1.1 reads as strings."""


Loader.add_implicit_resolver(f"{TAG}float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
                             list("-+.0123456789"))
SCALARS = SafeConstructor()  # used through _scalar only: construct_object would keep every node it built


def read_config_file(path: str | Path) -> dict:
    """A config file's data (a mapping; an empty file is {}); ConfigError naming the file otherwise."""
    source = f"config file '{path}'"
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ConfigError(f"{source} is not a file")
        if size > MAX_BYTES:
            raise ConfigError(f"{source} is {_size(size)}; a config file is at most {_size(MAX_BYTES)} (the default "
                              "study's is 7 KB)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{source} cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})") from None
    data = parse_config_text(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping of section names to settings, not a {_kind(data)}")
    if "__use_yte__" in data:
        raise ConfigError(f"{source} asks for YTE templating (__use_yte__), which ganopt does not run: "
                          "write the values out")
    return data


def read_config_file_or_exit(path: str | Path) -> dict:
    """read_config_file for a program that reads config files on its own (Snakemake reading
    --configfile, as profiles/*/config.yaml set up): a bad file ends it with its one line."""
    try:
        return read_config_file(path)
    except ConfigError as exc:
        sys.exit(f"ganopt: {exc}")


def parse_config_text(text: str, source: str) -> Any:
    """YAML (or JSON) text as plain data; `source` names it in every error ("config file 'x.yaml'")."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source} is {_size(len(text))}; config text is at most {_size(MAX_BYTES)}")
    try:
        node = yaml.compose(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:  # the pure-Python composer, without libyaml's own nesting limit
        raise ConfigError(f"{source} is nested deeper than {MAX_DEPTH} levels") from None
    if node is None:
        return None
    _check(node, source, (), {})
    return _build(node)


def parse_overrides(entries: list[str]) -> dict:
    """`--config` entries (`section=YAML value`, as Snakemake takes them) as one mapping, values typed
    by the same reader: `toy={steps: 3}` sets toy.steps to the integer 3."""
    out: dict = {}
    for entry in entries:
        key, eq, value = entry.partition("=")
        if eq and "." in key:  # Snakemake's own --config refuses it too: say how to write it
            section, *inner = key.split(".")
            for part in reversed(inner):
                value = f"{{{part}: {value}}}"
            raise ConfigError(f"--config '{shorten(entry)}': nested keys go in the value: {section}={shorten(value)}")
        if not eq or not re.fullmatch(r"[A-Za-z_][\w-]*", key):
            raise ConfigError(f"--config '{shorten(entry)}' is not section=value (e.g. toy={{steps: 3}}, study=mine)")
        merge(out, {key: parse_config_text(value, f"--config '{shorten(entry)}'")})
    return out


def merge(base: dict, update: dict) -> dict:
    """Deep-merge `update` into `base` (mappings merged key by key, anything else replaced), as
    Snakemake merges config files and `--config`; returns `base`."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters (a message names a value, it does not repeat a megabyte)."""
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def _size(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n / 1024:.0f} KiB"


def _kind(value: Any) -> str:
    return {list: "list", str: "string"}.get(type(value), type(value).__name__)


def _line(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _tag(node: yaml.Node) -> str:
    return node.tag.replace(TAG, "!!")


def _check(node: yaml.Node, source: str, path: tuple[str | int, ...], seen: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(height, values once expanded) of `node` at key `path`, after checking its tags, keys and bounds.
    Each node is checked once (`seen`); a node reached again through an alias adds its memoized counts."""
    depth = len(path)
    if id(node) in seen:
        height, values = seen[id(node)]
    else:
        height, values = 0, 1
        if depth >= MAX_DEPTH:
            raise ConfigError(f"{source}, {_line(node)}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            if node.tag not in PLAIN:
                raise ConfigError(f"{source}, {_line(node)}: {_tag(node)} is not allowed ({PLAIN_DATA}): quote the "
                                  "value if it is a string")
            try:
                _scalar(node)
            except (ValueError, yaml.YAMLError) as exc:
                raise ConfigError(f"{source}, {_line(node)}: {shorten(repr(node.value))} is not a valid {_tag(node)} "
                                  f"({' '.join(str(exc).split())[:80]})") from None
        elif node.tag not in (f"{TAG}seq", f"{TAG}map"):
            raise ConfigError(f"{source}, {_line(node)}: {_tag(node)} is not allowed ({PLAIN_DATA})")
        children = list(enumerate(node.value)) if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                name = _key(key, source)
                if name in keys:
                    raise ConfigError(f"invalid config: config key '{shorten(key_path((*path, name)), 200)}': duplicate key "
                                      f"({_line(key)}) in {source.removeprefix('config file ')}")
                keys.add(name)
                children.append((name, value))
        for part, child in children:
            child_height, child_values = _check(child, source, (*path, part), seen)
            height, values = max(height, child_height + 1), values + child_values
            if values > MAX_VALUES:
                break
        seen[id(node)] = height, values
    if depth + height > MAX_DEPTH:
        raise ConfigError(f"{source}, {_line(node)}: nested deeper than {MAX_DEPTH} levels")
    if values > MAX_VALUES:
        raise ConfigError(f"{source}, {_line(node)}: expands to more than {MAX_VALUES:,} values (YAML aliases "
                          "repeat what they name); a study config holds a few hundred")
    return height, values


def _key(node: yaml.Node, source: str) -> str:
    if node.tag == f"{TAG}merge":
        raise ConfigError(f"{source}, {_line(node)}: YAML merge keys (<<) are not supported: write the keys out")
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{source}, {_line(node)}: a key is a {'list' if isinstance(node, yaml.SequenceNode) else 'mapping'}"
                          "; config keys are strings")
    if node.tag != f"{TAG}str":
        shown = shorten(node.value or "null")
        raise ConfigError(f"{source}, {_line(node)}: key {shown} reads as {_tag(node)}; config keys are strings "
                          f"(quote it: '{shown}')")
    return node.value


def _scalar(node: yaml.ScalarNode) -> Any:
    return SafeConstructor.yaml_constructors[node.tag](SCALARS, node)


def key_path(path: tuple[str | int, ...]) -> str:
    """A key's place as the messages name it: `gan.seeds[1]`; `<top level>` for the root."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _build(node: yaml.Node) -> Any:
    """The plain data of a checked node (aliases expanded: at most MAX_VALUES values)."""
    if isinstance(node, yaml.MappingNode):
        return {key.value: _build(value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_build(item) for item in node.value]
    return _scalar(node)

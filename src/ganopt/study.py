"""The study config as both entry points see it (`ganopt validate-config` and the workflow): the
config files through the one reader, the `--config` overrides, the schema, and the tracking store
checked before any job. Apart from ganopt.config, which ganopt.tracking builds on."""

from __future__ import annotations

import copy
from pathlib import Path

from ganopt.config import SCHEMA_DIR, from_dict, validate_config
from ganopt.config_file import merge, parse_overrides, read_config_file
from ganopt.tracking import TrackingConfig, check_store


def study_config(files: list[str | Path], overrides: list[str] | dict | None = None,
                 schema_dir: Path = SCHEMA_DIR) -> dict:
    """The study config `ganopt validate-config` and the workflow both run: the config files read
    and merged in order, then the `--config` overrides (`section=YAML` entries, or a mapping),
    validated with defaults filled, and the tracking store checked (ganopt.tracking.check_store).
    ConfigError, one line, on the first file or entry at fault."""
    config: dict = {}
    for path in files:
        merge(config, read_config_file(path))
    if isinstance(overrides, dict):
        merge(config, copy.deepcopy(overrides))
    elif overrides:
        merge(config, parse_overrides(overrides))
    validate_config(config, schema_dir)
    check_store(from_dict(TrackingConfig, config["tracking"], where="tracking"))
    return config

"""User-facing errors: the CLI prints their message as one sentence instead of a traceback."""


class GanoptError(Exception):
    """An error whose message alone tells the user what to fix."""


class ConfigError(GanoptError):
    """The configuration is invalid (unknown key, wrong type, out-of-range value, ...)."""


class DataMissingError(GanoptError):
    """A dataset's local files are not where the config says they are."""


class BadFileError(GanoptError):
    """A file the project reads or writes is missing, unreadable or does not hold what it should."""


class StoreError(GanoptError):
    """The MLflow store cannot be read or written; the runs stay in their journals (ganopt.tracking)."""

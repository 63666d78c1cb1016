"""Errors the user is meant to read: the CLI prints their message, never a traceback."""


class ArchiverError(Exception):
    """A problem with input or environment, explained in plain words."""


class InputError(ArchiverError):
    """The article (or another input) cannot be used as given."""


class ConfigError(ArchiverError):
    """A setting is missing or malformed."""


class MissingExtra(ConfigError):
    """A mode the settings or the command ask for needs an optional dependency that is not installed.

    The message is one line naming the extra that brings it and what failed to import, e.g.
    ``the PostgreSQL catalog needs: pip install 'archiver[postgres]' (No module named 'psycopg')``;
    `extra` is the extra's name."""

    def __init__(self, what: str, extra: str, error: ImportError) -> None:
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        super().__init__(f"{what} needs: pip install 'archiver[{extra}]' ({detail})")
        self.extra = extra

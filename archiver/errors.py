"""Errors the user is meant to read: the CLI prints their message, never a traceback."""


class ArchiverError(Exception):
    """A problem with input or environment, explained in plain words."""


class InputError(ArchiverError):
    """The article (or another input) cannot be used as given."""


class ConfigError(ArchiverError):
    """A setting is missing or malformed."""

"""The roles an API token can have, in a module that imports nothing: the CLI's parser offers them
(`archiver token create --role`) without loading the token code (``archiver.auth`` re-exports ROLES)."""

ROLES = ("publisher", "editor", "compliance", "admin")

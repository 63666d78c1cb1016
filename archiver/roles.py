"""The roles an API token can have, in a module that imports nothing: the CLI's parser offers them
(`archiver token create --role`) without loading the token code (``archiver.auth`` re-exports ROLES)."""

ROLES = ("publisher", "editor", "compliance", "admin")

# Who may read a takedown's internal reason, wherever it is shown: the 410 of a withdrawn copy, the post
# page, search hits and the API's post and search answers (others see that the post is taken down).
REASON_ROLES = ("compliance", "admin")

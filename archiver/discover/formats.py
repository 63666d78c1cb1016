"""The article formats discovery reads, in a module of their own: the CLI's parser offers them without
loading the scanners (and the regular expressions they compile at import)."""

# "auto" picks one of the others by the article's first bytes (archiver.discover.scan.detect_format).
FORMATS = ("auto", "html", "markdown", "text")

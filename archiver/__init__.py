"""archiver: keeps news articles whole when the posts and images they embed disappear."""

__version__ = "0.1.0"

"""The HTTP side: the public stable URLs and (later) the API and pages."""

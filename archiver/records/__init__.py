"""The typed records the steps pass on and store: an article's plan (its items and their
occurrences), each item's result, and each committed version.

Each is a pydantic model written in the JSON shape stored objects have always had (the object
layout is a public interface) and validated when read back, so a malformed stored object is one
clear `RecordError` naming its key instead of a KeyError deep inside a step.
"""

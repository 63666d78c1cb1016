"""Celery orchestration: thin tasks over archiver.pipeline, one task per step per item."""

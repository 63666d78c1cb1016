"""Celery orchestration: thin tasks over archiver.steps, one task per step per item; the only
place that imports Celery (the library and the API publish task messages with kombu)."""

"""Runners that drive the steps: the local runner (one process, a thread pool), the intake of the
publish hook, the feed poller and `submit` (queue.py publishes its task messages without Celery), and
the catalog rebuild. `workers/` is the Celery runner over the same steps."""

"""Runners that drive the steps: the local runner (one process, a thread pool), the publish hook's
intake, the feed poller and the catalog rebuild. `workers/` is the Celery runner over the same steps."""

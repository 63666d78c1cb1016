"""Object storage, the source of truth: the ObjectStore interface (base.py), a local directory
(local.py) or any S3 (s3.py), and layout.py, which names every object key."""

"""The capture step's machinery: the safe fetcher, media, manifests, WARC records and static cards."""

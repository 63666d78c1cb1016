"""Link health of originals: the liveness state machine, probes, and restore/revert of articles."""

"""Settings: one frozen object passed to every step, so a worker and the local runner behave alike."""

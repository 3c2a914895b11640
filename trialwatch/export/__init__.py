"""``trialwatch export``: every change as a dataset anyone can load — the event rows partitioned
by the day trialwatch stored them, the trials' current state, the list of stored versions and
the trials that left the registry, as Parquet (pyarrow, ``pip install 'trialwatch[export]'``) or
JSON Lines, with a manifest. Incremental: a second export writes again only the days whose rows
changed (dataset.py)."""

"""``trialwatch sync`` and ``trialwatch worker``: the whole registry, or a population, kept
current in the store: the bulk file read a study at a time (bulk.py), the queue of trials to
compare and the request pace (operations of the store: store/jobs.py, store/pace.py), a
worker's share of the pace (pacer.py), and the sync itself (run.py)."""

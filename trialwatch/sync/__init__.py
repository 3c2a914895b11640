"""``trialwatch sync`` and ``trialwatch worker``: the whole registry, or a population, kept
current in the store: the bulk file read a study at a time (bulk.py), the queue of trials to
compare (queue.py), one request pace for every worker (pacer.py), and the sync itself (run.py)."""

"""The one path of a check, whichever the store and whichever the trigger (ids, a watch list,
a search, a sync): plan (plan.py: which trials need their whole record) → fetch (fetch.py) →
compare and file what changed (compare.py) → deliver the reports (deliver.py)."""

"""A trial's whole life: the registry's own versions (backfill), merged with trialwatch's
snapshots into one story (story), told in text, Markdown, JSON and an HTML picture (render, svg)."""

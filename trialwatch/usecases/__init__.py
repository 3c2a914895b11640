"""One use case a command: each takes the loaded settings (or the flags and config they are
loaded from), runs the pipeline on a store, and returns a report; none prints. The CLI
(trialwatch/cli/) renders what they return."""

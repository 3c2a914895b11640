"""One use case a command: each takes the loaded Settings (the CLI loads them from its options,
the environment and the config file), runs the pipeline on a store, and returns a report; none
prints. The CLI (trialwatch/cli/) renders what they return."""

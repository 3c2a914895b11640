"""trialwatch: watch ClinicalTrials.gov records and report what changed."""

# The one place the version is written (pyproject.toml reads it from here): no package
# metadata is read at start-up.
__version__ = "0.9.4"

__all__ = ["__version__"]

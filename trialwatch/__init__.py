"""trialwatch: watch ClinicalTrials.gov records and report what changed."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trialwatch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

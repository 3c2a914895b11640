"""The change model: normalise → match → field changes → events → sentences."""

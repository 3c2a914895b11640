"""Renderers: small pure functions of one RunReport, so every format says the same."""

"""Generators of labelled traffic for tests and evaluations (not used by scans)."""

"""Metrics (pure) and report writing."""

"""Datasets: specs, loading and validation, curriculum bands, decontamination."""

"""Proving strategies and model backends: prompt templates, extraction, backends, the pipeline."""

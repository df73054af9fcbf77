"""The run directory: an SQLite store of problems, prompts, samples and verdicts; resuming."""

"""``bridge pipeline``: informal problems -> solve -> formalize -> prove -> synth -> training rows with bands
(-> iterate), in one run directory. Each stage is the library code of its own command, run into its own
directory under RUN_DIR, so a rerun resumes each where it stopped."""

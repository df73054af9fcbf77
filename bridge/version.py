"""bridge's version, in a module of its own: every layer may name it (``bridge/__init__`` re-exports it,
but importing the package root would pull in the verifier)."""

__version__ = "0.1.0"

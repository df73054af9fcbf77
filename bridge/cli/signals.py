"""The commands' Ctrl-C handling: :mod:`bridge.signals` (a low module the training loop uses too)."""

from bridge.signals import INTERRUPTED, stop_on_signals

__all__ = ["INTERRUPTED", "stop_on_signals"]

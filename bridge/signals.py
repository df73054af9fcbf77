"""Ctrl-C and SIGTERM for long commands: the first one asks the work to stop cleanly (every result
already decided is printed and kept), a second one quits at once.

A low, neutral module: the commands (``bridge.cli``) and the long loops they run (``bridge.train``) both
use it, and neither may import the other's layer upward."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

INTERRUPTED = 130  # the shell's status for a command stopped by SIGINT


@contextmanager
def stop_on_signals(stop: Callable[[], None], what: str = "work") -> Iterator[Callable[[], bool]]:
    """Within the block, SIGINT/SIGTERM call ``stop()`` once; a second signal raises KeyboardInterrupt.

    Yields a function telling whether a signal came. Outside the main thread it does nothing (Python
    delivers signals to the main thread only).
    """
    hits = [0]
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum: int, frame: object) -> None:
        hits[0] += 1
        if hits[0] > 1:
            raise KeyboardInterrupt
        print(f"bridge: stopping: {what} already decided is kept; checks in flight are finished or "
              "abandoned (press Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        stop()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: hits[0] > 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)

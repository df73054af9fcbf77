"""One long-lived verification stream that any thread can submit candidates to.

``Verifier.verify`` starts a pool for each call and closes it at the end: called once per RL step it
would elaborate every header again (``import Mathlib`` costs seconds per worker). Here a single
``verify`` stream runs for the service's lifetime in a thread of its own, fed from a queue; each
submitted candidate gets a ``concurrent.futures.Future`` that its verdict resolves. Nothing here
touches signals or assumes the main thread: trl calls async rewards from an event loop in a daemon
thread, verl from Ray workers.
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future

from bridge.config import BridgeConfig
from bridge.errors import SetupError
from bridge.scale import make_verifier
from bridge.verify.api import Verifier
from bridge.verify.candidate import Candidate
from bridge.verify.verdict import Verdict

_CLOSE = object()
# The stream remembers every verdict it gave (Verifier.verify's in-run dedupe): start a fresh stream
# after this many candidates so a long run's memory stays bounded. The sqlite cache carries over.
RESTART_AFTER = 50_000


class ServiceClosed(RuntimeError):
    """A candidate was submitted to, or left waiting in, a closed service."""


class VerifierService:
    """``submit(candidates) -> futures``; verdicts come from one long-lived ``Verifier`` stream."""

    def __init__(self, config: BridgeConfig, *, verifier: Verifier | None = None,
                 restart_after: int = RESTART_AFTER):
        self.verifier = verifier if verifier is not None else make_verifier(config)
        self.restart_after = max(1, restart_after)
        self.streams = 0  # verify() streams started (a new pool each): 1 for a run under restart_after
        self._q: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending: dict[str, Future[Verdict]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._error: BaseException | None = None  # the stream failed (the REPL cannot start): every call fails

    # -- public ---------------------------------------------------------------------------------------

    def submit(self, candidates: list[Candidate]) -> list[Future[Verdict]]:
        """Queue candidates for checking; one future per candidate, in order. Thread-safe."""
        futures: list[Future[Verdict]] = []
        with self._lock:
            if self._closed:
                raise ServiceClosed("the verifier service is closed")
            if self._error is not None:
                raise self._error
            for c in candidates:
                # ids must be unique among candidates in flight: the verdict's id routes it back
                key = f"rl{next(self._ids)}"
                fut: Future[Verdict] = Future()
                self._pending[key] = fut
                futures.append(fut)
                self._q.put(dataclasses.replace(c, id=key))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="bridge-rl-verifier", daemon=True)
                self._thread.start()
        return futures

    def verify(self, candidates: list[Candidate]) -> list[Verdict]:
        """Blocking: the verdicts of ``candidates`` in order (with their own ids)."""
        futures = self.submit(candidates)
        return [dataclasses.replace(f.result(), id=c.id) for c, f in zip(candidates, futures, strict=True)]

    def close(self) -> None:
        """Finish the checks already queued, stop the stream, close the Verifier. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._q.put(_CLOSE)
            thread.join(timeout=max(60.0, 3 * self.verifier.cfg.timeout))
        self._fail_pending(ServiceClosed("the verifier service was closed before this candidate was checked"))
        self.verifier.close()

    def __enter__(self) -> VerifierService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the stream thread ------------------------------------------------------------------------------

    def _feed(self, stop: list[bool]) -> Iterator[Candidate]:
        for _ in range(self.restart_after):
            # blocks: the pool's feeder (or its single worker) waits here; a pool whose REPL cannot start
            # gives up on a waiting feeder after 10 s, then raises SetupError
            item = self._q.get()
            if item is _CLOSE:
                stop[0] = True
                return
            assert isinstance(item, Candidate)
            yield item

    def _run(self) -> None:
        stop = [False]
        try:
            while not stop[0]:
                self.streams += 1
                for v in self.verifier.verify(self._feed(stop)):
                    with self._lock:
                        fut = self._pending.pop(v.id, None)
                    if fut is not None:
                        fut.set_result(v)
        except SetupError as e:  # Lean cannot run (the REPL does not start): every call fails, never a 0 reward
            with self._lock:
                self._error = e
            self._fail_pending(e)
        except BaseException as e:  # noqa: BLE001 - anything else fails the checks in flight; the next call restarts
            with self._lock:
                self._thread = None
            self._fail_pending(e)

    def _fail_pending(self, e: BaseException) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(e)

"""The Ray actors: :class:`CheckActor` (one pool worker each) and :class:`ReferenceActor` (one per node).

Imported only when a Ray pool starts (it imports Ray at the top).
"""

from __future__ import annotations

import os

import ray

from bridge.lean.repl import ReplFault
from bridge.scale.policy import job_budget
from bridge.scale.worker import CheckWorker, RefAnswer, ReferenceWorker, WorkerSetup


def _asker(reference: ray.actor.ActorHandle, setup: WorkerSetup):
    budget = job_budget(setup.limits)

    def ask(header: str, key: str, cmd: str, check: str) -> RefAnswer:
        try:
            return ray.get(reference.reference.remote(header, key, cmd, check), timeout=budget)
        except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError) as e:
            # the candidate's check fails as a crash (retried once on a fresh REPL), never as a verdict
            raise ReplFault("crashed", f"the node's reference actor did not answer: {type(e).__name__}") from None

    return ask


# "control" answers while a check runs in the default group (one at a time, in submission order):
# a ping that goes unanswered is how the driver tells a frozen actor from a slow candidate
@ray.remote(concurrency_groups={"control": 1})
class CheckActor(CheckWorker):
    def __init__(self, setup: WorkerSetup, reference: ray.actor.ActorHandle | None = None):
        super().__init__(setup, _asker(reference, setup) if reference is not None else None)

    def ready(self) -> int:
        return os.getpid()

    @ray.method(concurrency_group="control")
    def ping(self) -> int:
        return os.getpid()

    @ray.method(concurrency_group="control")
    def pids(self) -> dict:
        return CheckWorker.pids(self)

    @ray.method(concurrency_group="control")
    def shutdown(self) -> None:
        CheckWorker.shutdown(self)


@ray.remote
class ReferenceActor(ReferenceWorker):
    def ready(self) -> int:
        return os.getpid()

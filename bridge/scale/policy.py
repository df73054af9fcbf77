"""The Ray pool's decisions, as pure functions: nothing here talks to Ray, a process or a clock.

* which header a free actor takes next (header affinity: the rule of the local pool's scheduler);
* how many actors go on which node;
* when an actor that stopped answering is a straggler;
* what happens to the jobs of an actor that died or was given up on (resubmitted once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bridge.lean.pool import PoolLimits, job_average
from bridge.lean.pool import worth_joining as pool_rule

# -- header affinity ----------------------------------------------------------------------------------


@dataclass
class Costs:
    """What the driver has measured: seconds to elaborate each header, seconds per job (moving average)."""

    header: dict[str, float] = field(default_factory=dict)
    job: float = 0.0
    jobs_timed: int = 0


def timed(costs: Costs, header: str | None, header_s: float | None, job_s: float | None) -> Costs:
    """``costs`` after one more measurement; the same update as the local pool's ``_Scheduler.timed``."""
    out = Costs(dict(costs.header), costs.job, costs.jobs_timed)
    if header is not None and header_s:
        out.header[header] = header_s
    if job_s is not None:
        out.jobs_timed += 1
        out.job = job_average(out.job, out.jobs_timed, job_s)
    return out


def worth_joining(header: str, waiting: int, loaded: int, costs: Costs) -> bool:
    """Whether the work waiting for ``header``, shared with the ``loaded`` actors that have it, is worth
    more than elaborating it once more (``_Scheduler._worth_joining`` of the local pool)."""
    return pool_rule(header, waiting, loaded, costs.header, costs.job, costs.jobs_timed)


def choose_header(mine: set[str], waiting: Mapping[str, int], loaded: Mapping[str, int],
                  costs: Costs) -> str | None:
    """The header whose next job an actor holding ``mine`` takes, or None (it waits).

    Its own headers first (the one with most work), else one nobody has, else it joins the header with
    most work per actor when that is worth an elaboration: the local pool's rule, so an actor and a
    local worker with the same headers make the same choice (tests/test_ray_policy.py checks it).
    """
    queued = [h for h, n in waiting.items() if n > 0]
    if not queued:
        return None
    own = [h for h in queued if h in mine]
    if own:
        return max(own, key=lambda h: waiting[h])
    free = [h for h in queued if loaded.get(h, 0) == 0]
    if free:
        return max(free, key=lambda h: waiting[h])
    join = [h for h in queued if worth_joining(h, waiting[h], loaded.get(h, 0), costs)]
    if join:
        return max(join, key=lambda h: waiting[h] / (loaded.get(h, 0) + 1))
    return None


# -- nodes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSlot:
    node_id: str
    cpus: int  # whole CPUs Ray offers there
    usable: bool = True  # the node has the toolchain, the project and bubblewrap (bridge.scale.nodes)


def place_actors(nodes: Sequence[NodeSlot], n: int, taken: Mapping[str, int] | None = None) -> list[str]:
    """The node of each of ``n`` new actors: usable nodes only, one CPU per actor, each going to the node
    with the most CPUs still free (so a cluster fills evenly), never past a node's CPUs. Fewer than ``n``
    come back when the usable CPUs run out: an actor that cannot be placed would wait forever."""
    free = {s.node_id: s.cpus - (taken or {}).get(s.node_id, 0) for s in nodes if s.usable}
    order = [s.node_id for s in nodes if s.usable]
    out: list[str] = []
    for _ in range(n):
        best = max(order, key=lambda nid: free[nid], default=None)
        if best is None or free[best] <= 0:
            break
        out.append(best)
        free[best] -= 1
    return out


def auto_actors(nodes: Sequence[NodeSlot]) -> int:
    """``workers = 0`` on a cluster: one actor per CPU of the usable nodes."""
    return sum(max(0, s.cpus) for s in nodes if s.usable)


# -- stragglers ------------------------------------------------------------------------------------------


def job_budget(limits: PoolLimits, slack: float = 30.0) -> float:
    """The longest an honest actor can take over one job under ``limits``: every attempt may elaborate the
    header, probe it, check body and follow-up, and ask the reference (its header, command, probe, check).
    Past this the actor is a straggler whatever it says."""
    per_attempt = 3 * limits.header_timeout + 4 * limits.timeout
    return (limits.retries + 1) * per_attempt + limits.header_timeout + slack


def should_ping(now: float, busy_since: float, last_ping: float | None, limits: PoolLimits) -> bool:
    """Ask a busy actor whether it still answers once its job has run past the per-candidate timeout
    (a healthy actor answers a ping while it checks), then once per timeout."""
    if now - busy_since < limits.timeout:
        return False
    return last_ping is None or now - last_ping >= limits.timeout


def straggling(now: float, busy_since: float, ping_sent: float | None, ping_timeout: float,
               limits: PoolLimits, jobs: int = 1) -> str | None:
    """Why an actor busy since ``busy_since`` is given up on, or None: it did not answer a ping within
    ``ping_timeout`` (a frozen process, a partitioned node), or its call of ``jobs`` jobs ran past
    ``jobs`` times :func:`job_budget`."""
    if ping_sent is not None and now - ping_sent > ping_timeout:
        return f"its actor did not answer a ping within {ping_timeout:g}s"
    budget = job_budget(limits) * max(1, jobs)
    if now - busy_since > budget:
        return f"its actor gave no verdict within {budget:g}s, the most an honest check can take"
    return None


# -- batching ------------------------------------------------------------------------------------------


def batch_size(waiting: int, free_calls: int, most: int) -> int:
    """How many jobs go in the next call to an actor: several per call cut the driver's cost per
    candidate (one submission and one answer per call, not per job), but never so many that the
    waiting work, spread over the calls that have room now, leaves an actor with nothing (the end of a
    run), and never more than ``most``."""
    if waiting <= 0:
        return 0
    share = -(-waiting // max(1, free_calls))  # ceil: every call with room gets its share
    return max(1, min(most, share))


# -- resubmission ----------------------------------------------------------------------------------------

RESUBMIT_ALONE, REQUEUE, GIVE_UP = "resubmit_alone", "requeue", "give_up"


@dataclass(frozen=True)
class LostJob:
    losses: int  # actors already lost while this job ran there (before this one)
    running: bool  # in the actor's first unanswered call: the one it was (or would next be) checking


def after_loss(job: LostJob, max_losses: int = 1) -> str:
    """What becomes of a job whose actor died (or was given up on) before it answered.

    The job it was running may be what killed it: resubmitted once, alone on a fresh worker, so it can
    take nobody down with it; a second loss stands as its verdict (``crashed``). Jobs queued behind it
    never started: back to the queue, not counted against them. With several jobs per call the driver
    cannot tell which job of the first unanswered call was running, so each of them counts as running:
    each is resubmitted alone (and a job that killed its actor is the one that does so again).
    """
    if not job.running:
        return REQUEUE
    return RESUBMIT_ALONE if job.losses < max_losses else GIVE_UP

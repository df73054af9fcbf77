"""Which nodes of a Ray cluster can verify: each is asked (a task pinned to it) what it has.

A node is used only when it has the toolchain (or the ``repl_cmd`` executable), the driver's Lean project
(same Lean version and ``lake-manifest.json``: other revisions give other verdicts) and, with the sandbox
on, a working bubblewrap. ``bridge doctor --ray ADDRESS`` prints the same facts (:func:`cluster_report`).
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.config import BridgeConfig
from bridge.errors import SetupError
from bridge.lean.procs import first_line
from bridge.version import __version__


@dataclass(frozen=True)
class NodeFacts:
    """What one node has, as its probe saw it. ``None`` means missing; the note says why."""

    host: str = "?"
    python: str = ""
    bridge: str | None = None
    toolchain: str | None = None
    toolchain_note: str = ""
    project: str | None = None
    project_note: str = ""
    lean_version: str | None = None
    manifest_hash: str | None = None
    bubblewrap: bool = False
    bubblewrap_note: str = ""
    error: str = ""  # the probe itself could not run there


@dataclass(frozen=True)
class NodeReport:
    node_id: str
    address: str
    cpus: int
    alive: bool
    facts: NodeFacts
    usable: bool
    why: str  # why it is not used ("" when it is)


def probe_here(cfg: BridgeConfig) -> NodeFacts:
    """Run on the node itself: its toolchain, project, bubblewrap. Never raises (a fact says what failed)."""
    from bridge.lean.project import find_project, repl_launch
    from bridge.lean.sandbox import sandbox_available

    facts: dict[str, Any] = {"host": socket.gethostname(), "python": platform.python_version(),
                             "bridge": __version__}
    try:
        project = find_project(cfg)
    except SetupError as e:
        project = None
        facts["project_note"] = e.message
    if project is not None:
        if project.path.is_dir():
            facts["project"] = str(project.path)
            facts["lean_version"] = cfg.lean_version or project.lean_version or "unknown"
            facts["manifest_hash"] = project.manifest_hash()
        else:
            facts["project_note"] = f"{project.path} does not exist here"
    if cfg.repl_cmd:
        argv = shlex.split(cfg.repl_cmd)
        exe = shutil.which(argv[0]) if argv else None
        facts["toolchain"] = exe
        facts["toolchain_note"] = "the --repl-cmd executable" if exe else \
            f"{argv[0] if argv else '(empty)'} (--repl-cmd) is not found here"
    else:
        where = str(project.path) if facts.get("project") else None
        lean = first_line(["lean", "--version"], where)
        facts["toolchain"] = lean
        facts["toolchain_note"] = "" if lean else "no `lean` on PATH: install elan, then `bridge setup`"
        if lean and project is not None and facts.get("project"):
            try:
                repl_launch(cfg)
                if project.repl_binary() is None:
                    facts["project_note"] = "the REPL is not built here: run `bridge setup`"
                    facts["project"] = None
            except SetupError as e:
                facts["toolchain"], facts["toolchain_note"] = None, e.message
    if cfg.sandbox:
        ok, why = sandbox_available()
        facts["bubblewrap"], facts["bubblewrap_note"] = ok, why
    else:
        facts["bubblewrap"], facts["bubblewrap_note"] = True, "not required (--no-sandbox)"
    return NodeFacts(**facts)


def judge(facts: NodeFacts, lean_version: str, manifest_hash: str) -> tuple[bool, str]:
    """Whether a node with ``facts`` may check candidates for a driver on (``lean_version``,
    ``manifest_hash``), and why not (pure)."""
    if facts.error:
        return False, facts.error
    why = []
    if facts.toolchain is None:
        why.append("no toolchain: " + (facts.toolchain_note or "missing"))
    if facts.project is None:
        why.append("no Lean project: " + (facts.project_note or "missing"))
    elif (facts.lean_version, facts.manifest_hash) != (lean_version, manifest_hash):
        why.append(f"another Lean project: {facts.lean_version} (manifest {facts.manifest_hash}), the driver's "
                   f"{lean_version} (manifest {manifest_hash})")
    if not facts.bubblewrap:
        why.append("no working bubblewrap: " + (facts.bubblewrap_note or "missing"))
    return not why, "; ".join(why)


def probe_cluster(cfg: BridgeConfig, lean_version: str, manifest_hash: str, timeout: float = 120.0,
                  runtime_env: dict[str, Any] | None = None) -> list[NodeReport]:
    """Every node of the connected cluster, probed in parallel (a zero-CPU task pinned to each)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(probe_here)
    nodes = ray.nodes()
    refs: dict[str, Any] = {}
    for n in nodes:
        if n.get("Alive"):
            opts: dict[str, Any] = {"scheduling_strategy": NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)}
            if runtime_env is not None:
                opts["runtime_env"] = runtime_env
            refs[n["NodeID"]] = probe.options(**opts).remote(cfg)
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout) if refs else ([], [])
    out = []
    for n in nodes:
        nid, cpus = n["NodeID"], int(n.get("Resources", {}).get("CPU", 0))
        addr = n.get("NodeManagerAddress", "?")
        if not n.get("Alive"):
            out.append(NodeReport(nid, addr, cpus, False, NodeFacts(error="the node is dead"), False, "the node is dead"))
            continue
        ref = refs[nid]
        if ref not in ready:
            facts = NodeFacts(error=f"the node did not answer the probe within {timeout:g}s")
        else:
            try:
                facts = ray.get(ref)
            except ray.exceptions.RayError as e:  # e.g. bridge is not importable there
                facts = NodeFacts(error=f"the probe failed there: {str(e).strip().splitlines()[-1][:300]}")
        ok, why = judge(facts, lean_version, manifest_hash)
        if ok and cpus < 1:
            ok, why = False, "no CPU offered to Ray there"
        out.append(NodeReport(nid, addr, cpus, True, facts, ok, why))
    return out


def connect(address: str | None) -> bool:
    """Connect to the cluster at ``address`` ("auto", "ray://...", "HOST:PORT"; "local" starts one here)
    unless this process already is; True when this call connected (so its owner disconnects)."""
    try:
        import ray
    except ImportError:
        raise SetupError("--ray needs Ray, which is not installed", 'pip install -e ".[ray]"') from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"address": address, "log_to_driver": False}  # stderr stays bridge's own
    if address == "local":
        kwargs["include_dashboard"] = False
        # a Ray we start for bridge alone: its workers (and so the REPLs) at normal priority, not Ray's nice 15
        os.environ.setdefault("RAY_worker_niceness", "0")
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SetupError(f"cannot connect to the Ray cluster at {address!r}: {e}",
                         "start it (`ray start --head` on the head node), or check the address") from None
    return True


@dataclass
class ClusterReport:
    address: str | None
    nodes: list[NodeReport] = field(default_factory=list)

    @property
    def usable_cpus(self) -> int:
        return sum(n.cpus for n in self.nodes if n.usable)

    @property
    def ok(self) -> bool:
        return self.usable_cpus > 0

    def rows(self) -> list[list[Any]]:
        """One row per node for ``bridge doctor``'s table."""
        out = []
        for n in self.nodes:
            f = n.facts
            out.append([n.node_id[:12], f"{n.address} ({f.host})", n.cpus,
                        _mark(f.toolchain is not None, f.toolchain or f.toolchain_note),
                        _mark(f.project is not None, f.project or f.project_note),
                        _mark(f.bubblewrap, f.bubblewrap_note),
                        "used" if n.usable else f"NOT USED: {n.why}"])
        return out

    def as_json(self) -> dict[str, Any]:
        return {"address": self.address, "ok": self.ok, "usable_cpus": self.usable_cpus,
                "nodes": [{"node_id": n.node_id, "address": n.address, "cpus": n.cpus, "alive": n.alive,
                           "usable": n.usable, "why": n.why, **n.facts.__dict__} for n in self.nodes]}


HEADERS = ["node", "address", "CPUs", "toolchain", "project", "bubblewrap", "status"]


def _mark(ok: bool, note: str | None) -> str:
    return ("ok: " if ok else "MISSING: ") + (note or "")[:80]


def cluster_report(cfg: BridgeConfig, address: str | None) -> ClusterReport:
    """``bridge doctor --ray ADDRESS``: connect, probe every node, disconnect (if this call connected)."""
    from bridge.lean.project import find_project

    project = find_project(cfg)
    version = cfg.lean_version or project.lean_version or "unknown"
    ours = connect(address)
    try:
        return ClusterReport(address, probe_cluster(cfg, version, project.manifest_hash()))
    finally:
        if ours:
            import ray

            ray.shutdown()


def summary(nodes: Sequence[NodeReport]) -> str:
    used = [n for n in nodes if n.usable]
    return (f"{len(used)} of {len(nodes)} node(s) used, {sum(n.cpus for n in used)} CPU(s)"
            + "".join(f"; {n.address} not used: {n.why}" for n in nodes if not n.usable))


__all__ = ["ClusterReport", "NodeFacts", "NodeReport", "cluster_report", "connect", "judge", "probe_cluster",
           "probe_here", "summary"]

"""The import graph of ``bridge/`` and ``provers/`` points down the layers and has no circle.

Layers, lowest first (an import inside one layer is fine while it makes no circle)::

    errors, config, jsonl (+ the neutral helpers beside them) < lean < verify < data, scale < runs, eval
    < provers, train, rl, informal < pipeline < cli

plus one rule inside a layer: ``bridge.informal`` is below ``provers`` (``provers/solve.py`` builds on the
informal pieces, never the reverse). Every import counts, at module level or inside a function (a lazy
import is still a dependency); ``from X import Y`` depends on ``X.Y`` when that is a module, else on
``X``. The package root ``bridge`` (``bridge/__init__.py``, the public facade that re-exports
``Verifier``) sits at the top: importing it from below is an upward import. A new package must be given
a layer here, or this test names it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

# (name, module prefixes), lowest first; the longest prefix of a module decides its layer
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("errors/config/jsonl", ("bridge.errors", "bridge.config", "bridge.jsonl", "bridge.io", "bridge.version",
                             "bridge.signals", "bridge.models")),
    ("lean", ("bridge.lean",)),
    ("verify", ("bridge.verify",)),
    ("data/scale", ("bridge.data", "bridge.scale")),
    ("runs/eval", ("bridge.runs", "bridge.eval")),
    ("provers/train/rl/informal", ("provers", "bridge.train", "bridge.rl", "bridge.informal",
                                   "bridge.demo", "bridge.publish")),  # demo: a scripted prover and the stand-in
    # REPL; publish: a trained model's export and upload
    ("pipeline", ("bridge.pipeline", "bridge.lab")),  # lab: the local app over runs, provers and the verifier
    ("cli", ("bridge.cli", "bridge.__main__", "bridge")),
]
# inside one layer: (importer prefix, imported prefix) that must not be
FORBIDDEN: list[tuple[str, str, str]] = [
    ("bridge.informal", "provers", "informal is below provers: provers/solve.py builds on it, never the reverse"),
]
PACKAGES = ("bridge", "provers")
EXACT = {"bridge"}  # the package root is the facade; its subpackages have layers of their own


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for base in PACKAGES:
        for p in sorted((root / base).rglob("*.py")):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports(root: Path) -> Iterator[tuple[str, str, int]]:
    """(importer, imported, line) for every import of one of our modules by another."""
    mods = modules(root)
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                # `from X import Y`: the module X.Y when there is one, else X itself
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for n in names:
                target = _resolve(n, mods) if n.split(".")[0] in PACKAGES else None
                if target is not None and target != mod:
                    yield mod, target, node.lineno


def layer_of(mod: str) -> int | None:
    best, found = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (mod == p or (mod.startswith(p + ".") and p not in EXACT)) and len(p) > best:
                best, found = len(p), i
    return found


def violations(root: Path) -> list[str]:
    mods = modules(root)
    out = [f"{m} ({mods[m].relative_to(root)}) is in no layer: give its package one in tests/test_layers.py"
           for m in mods if layer_of(m) is None]
    for src, dst, line in imports(root):
        ls, ld = layer_of(src), layer_of(dst)
        where = f"{mods[src].relative_to(root)}:{line}"
        if ls is not None and ld is not None and ld > ls:
            out.append(f"{where}: {src} ({LAYERS[ls][0]}) imports {dst} ({LAYERS[ld][0]}), a layer above it")
        for a, b, why in FORBIDDEN:
            if (src == a or src.startswith(a + ".")) and (dst == b or dst.startswith(b + ".")):
                out.append(f"{where}: {src} imports {dst}: {why}")
    return out


def cycles(root: Path) -> list[list[str]]:
    """Every circle of the module graph (strongly connected components of more than one module, and
    modules that import themselves), each as one path that goes round it."""
    graph: dict[str, set[str]] = {m: set() for m in modules(root)}
    for src, dst, _ in imports(root):
        graph[src].add(dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's algorithm, iteratively (deep graphs)
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_round(sorted(c), graph) for c in comps]


def _round(comp: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the component's first module back to itself, inside the component (breadth first)."""
    members, start = set(comp), comp[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    chain = [v]
                    while chain[-1] != start:
                        chain.append(prev[chain[-1]])
                    return [*reversed(chain), start]
                if w not in prev and w != start:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def test_no_import_points_up_the_layers() -> None:
    bad = violations(ROOT)
    assert not bad, "imports against the layer order:\n  " + "\n  ".join(bad)


def test_the_import_graph_has_no_circle() -> None:
    found = cycles(ROOT)
    assert not found, "import circles:\n  " + "\n  ".join(" -> ".join(c) for c in found)


# -- the checker itself finds what it is for ------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return _tree(tmp_path, {
        "bridge/__init__.py": "from bridge.verify.api import Verifier\n",
        "bridge/errors.py": "",
        "bridge/lean/__init__.py": "",
        "bridge/lean/repl.py": "from bridge.errors import X\n",
        "bridge/verify/__init__.py": "",
        "bridge/verify/api.py": "def f():\n    from bridge.scale import pool\n",  # lazy, still upward
        "bridge/scale/__init__.py": "",
        "bridge/scale/pool.py": "from bridge.verify import api\nfrom ..lean import repl\n",
        "bridge/informal/__init__.py": "",
        "bridge/informal/prm.py": "from provers.backends import hf\nfrom bridge import Verifier\n",
        "provers/__init__.py": "",
        "provers/backends/__init__.py": "",
        "provers/backends/hf.py": "import bridge.informal.prm\n",
        "bridge/newpkg/__init__.py": "",
    })


def test_the_checker_names_each_edge_against_the_order(toy: Path) -> None:
    bad = violations(toy)
    assert any("bridge/verify/api.py:2: bridge.verify.api (verify) imports bridge.scale.pool (data/scale)" in b
               for b in bad), bad
    assert any("bridge.informal.prm imports provers.backends.hf: informal is below provers" in b for b in bad)
    assert any("bridge.informal.prm (provers/train/rl/informal) imports bridge (cli)" in b for b in bad)
    assert any("bridge.newpkg" in b and "no layer" in b for b in bad)
    assert not any("bridge/scale/pool.py" in b for b in bad)  # scale on verify and lean: downward
    assert not any(b.startswith("bridge/__init__.py") for b in bad)  # the facade at the top


def test_the_checker_finds_circles(toy: Path) -> None:
    found = cycles(toy)
    as_text = [" -> ".join(c) for c in found]
    assert "bridge.scale.pool -> bridge.verify.api -> bridge.scale.pool" in as_text, as_text
    assert "bridge.informal.prm -> provers.backends.hf -> bridge.informal.prm" in as_text, as_text

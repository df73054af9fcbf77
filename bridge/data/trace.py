"""Problems from any Lean repository: a repository traced by lean-dojo (``LeanGitRepo``, ``trace``,
``TracedRepo.get_traced_theorems``) turned into problem rows ``bridge prove``, ``bridge iterate`` and ``bridge
train sft`` read: the statement, a header to check it in, the docstring as informal text where there is one,
and the human tactic proof kept for SFT.

lean-dojo's API as read from its source (lean-dojo/LeanDojo v4.20.0, ``src/lean_dojo/data_extraction/``):
``TracedRepo.repo`` (``LeanGitRepo``: ``url``, ``commit``, ``lean_version``), ``get_traced_theorems()`` (every
traced file's theorems, the dependencies' included); ``TracedTheorem.theorem`` (``Theorem``: ``repo``,
``file_path``, ``full_name``), ``start``/``end`` (``Pos``: ``line_nb``), ``comments`` (``Comment``: ``text``),
``is_private``, ``traced_file.lean_file.code`` (the file's lines), ``get_theorem_statement()`` (the code from
the declaration to its proof, comments removed: it ends in ``:=``), ``get_tactic_proof()`` (``by ...``, or None
for a term proof). Only those names are used here, so the conversion is pure and tested with stand-ins.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import InputError, SetupError

_HEADER_LINE = re.compile(r"^\s*(import|open)\s")
_DECL = re.compile(r"^\s*(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+|noncomputable\s+)*(theorem|lemma)\s+(\S+)")


@dataclass
class TraceResult:
    rows: list[dict[str, Any]]
    skipped: Counter = field(default_factory=Counter)  # reason -> theorems


def file_header(code: list[str], before_line: int, namespace: str) -> str:
    """The lines a statement needs: the file's ``import``s and the ``open``s above the theorem (at the
    top level of a line), and ``open`` of the theorem's namespace (its short name is declared at the root)."""
    lines = [ln.rstrip("\n") for ln in code[: max(0, before_line - 1)] if _HEADER_LINE.match(ln)]
    imports = [ln.strip() for ln in lines if ln.lstrip().startswith("import")]
    opens = [ln.strip() for ln in lines if ln.lstrip().startswith("open")]
    if namespace:
        opens.append(f"open {namespace}")
    return "\n".join([*(imports or ["import Mathlib"]), *dict.fromkeys(opens)]) + "\n"


def docstring(comments: list[Any]) -> str:
    """The theorem's doc comment (``/-- ... -/``), or ""."""
    for c in comments:
        text = getattr(c, "text", "")
        if text.lstrip().startswith("/--"):
            return text.strip()
    return ""


def _informal(doc: str) -> str:
    return re.sub(r"^/--|-/$", "", doc).strip()


def theorem_row(tt: Any, source: str, lean_version: str | None, split: str) -> tuple[dict[str, Any] | None, str]:
    """One traced theorem as a problem row, or (None, why it is left out)."""
    thm = tt.theorem
    full = str(thm.full_name)
    statement = tt.get_theorem_statement().strip()
    if not statement.endswith(":="):
        return None, "no `:=` ends the statement (pattern-matching or `where` definitions)"
    m = _DECL.match(statement)
    if m is None:
        return None, "not one theorem declaration"
    declared = m.group(2)
    namespace = full[: -len(declared) - 1] if full.endswith("." + declared) else ""  # inside `namespace NS`
    header = file_header(list(tt.traced_file.lean_file.code), int(tt.start.line_nb), namespace)
    doc = docstring(list(tt.comments))
    row: dict[str, Any] = {
        "name": full, "split": split, "header": header, "formal_statement": statement + " by\n",
        "informal_prefix": doc + "\n" if doc else "", "informal_statement": _informal(doc),
        "source": source, "file": str(thm.file_path), "full_name": full, "lean_version": lean_version,
        "tags": ["traced", *(["private"] if tt.is_private else [])],
    }
    proof = tt.get_tactic_proof()
    if proof is not None:
        rest = re.sub(r"^by\b", "", proof.strip(), count=1)  # the statement ends in `:= by`; this continues it
        row["proof"] = (rest[1:] if rest.startswith("\n") else rest).rstrip() + "\n"
    return row, ""


def trace_rows(traced: Any, split: str = "train", with_dependencies: bool = False,
               limit: int | None = None) -> TraceResult:
    """Every theorem of a ``TracedRepo`` (only the repository's own unless ``with_dependencies``)."""
    repo = traced.repo
    source = f"{repo.url}@{repo.commit}"
    lean_version = getattr(repo, "lean_version", None)
    out = TraceResult([])
    seen: set[str] = set()
    for tt in traced.get_traced_theorems():
        if not with_dependencies and tt.theorem.repo != repo:
            out.skipped["in a dependency"] += 1
            continue
        row, why = theorem_row(tt, source, lean_version, split)
        if row is None:
            out.skipped[why] += 1
            continue
        if row["name"] in seen:
            out.skipped["a name already taken"] += 1
            continue
        seen.add(row["name"])
        out.rows.append(row)
        if limit is not None and len(out.rows) >= limit:
            break
    return out


def trace_repo(url: str, rev: str) -> Any:
    """lean-dojo's tracing of ``url`` at ``rev`` (it clones, builds with the repository's own toolchain and
    caches; minutes to hours for a large repository)."""
    try:
        import lean_dojo
    except ImportError:
        raise SetupError("lean-dojo is not installed", 'pip install -e ".[dojo]"') from None
    try:
        repo = lean_dojo.LeanGitRepo(url, rev)
    except Exception as e:  # noqa: BLE001 - lean-dojo raises plain exceptions for a bad URL or revision
        raise InputError(f"{url} at {rev}: {e}", "give a git URL (or path) and a commit, tag or branch") from None
    return lean_dojo.trace(repo)

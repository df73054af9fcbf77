"""The Lean versions ``bridge setup --lean VERSION`` can pin, and the revision of each dependency.

Read off the repositories' histories (tags, and each commit's ``lean-toolchain``), not guessed:

* leanprover-community/repl has no tags v4.11.0, v4.12.0, v4.13.0, v4.20.0, v4.20.1, v4.23.0. For
  v4.11.0, v4.20.0 (branch ``bump_to_v4.20.0``), v4.20.1 and v4.23.0 we pin the newest commit whose
  ``lean-toolchain`` is exactly that version; for v4.12.0 such commits exist only off every branch (Lake
  could not fetch them) and for v4.13.0 none exist, so those two are not supported.
* leanprover/lean4checker has tags v4.9.0 to v4.28.0 (no v4.20.1 commit) and nothing after
  v4.29.0-rc8: from v4.29.0 on, and for v4.20.1, no lean4checker is pinned (``--strict`` uses our own
  ``bridge-check`` anyway; lean4checker is an extra).
* mathlib4 tags every Lean release it supports (``vX.Y.Z``).
"""

from __future__ import annotations

from dataclasses import dataclass

PINNED = "v4.9.0"


@dataclass(frozen=True)
class Pins:
    version: str
    repl: str  # a tag or a commit id
    lean4checker: str | None
    mathlib: str

    @property
    def repl_note(self) -> str:
        return "tag" if self.repl == self.version else f"commit {self.repl[:12]}"


_REPL_COMMITS = {
    "v4.11.0": "65f1337eab0c0c400143ce85ea9063bc20c83a45",
    "v4.20.0": "16054ca34b80803d6621dccd11882ca2ea03e215",
    "v4.20.1": "8d025135c9f82143657dc476027d5c95aaed4db6",
    "v4.23.0": "2f8073af0a5e3a141fee075652790a2c19132516",
}
_REPL_TAGS = ("v4.9.0", "v4.10.0", "v4.14.0", "v4.15.0", "v4.16.0", "v4.17.0", "v4.18.0", "v4.19.0",
              "v4.21.0", "v4.22.0", "v4.24.0", "v4.25.0", "v4.25.1", "v4.26.0", "v4.27.0", "v4.28.0",
              "v4.29.0", "v4.30.0", "v4.31.0", "v4.32.0")
_CHECKER_TAGS = frozenset({"v4.9.0", "v4.10.0", "v4.11.0", "v4.12.0", "v4.13.0", "v4.14.0", "v4.15.0", "v4.16.0",
                           "v4.17.0", "v4.18.0", "v4.19.0", "v4.20.0", "v4.21.0", "v4.22.0", "v4.23.0", "v4.24.0",
                           "v4.25.0", "v4.25.1", "v4.26.0", "v4.27.0", "v4.28.0"})
UNSUPPORTED = {
    "v4.12.0": "the REPL's v4.12.0 commits are on no branch of leanprover-community/repl, so Lake cannot fetch them",
    "v4.13.0": "leanprover-community/repl has no commit made for the v4.13.0 toolchain",
}


def _key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.lstrip("v").split("."))


SUPPORTED: dict[str, Pins] = {
    v: Pins(v, _REPL_COMMITS.get(v, v), v if v in _CHECKER_TAGS else None, v)
    for v in sorted({*_REPL_TAGS, *_REPL_COMMITS}, key=_key)
}


def normalise(version: str) -> str:
    v = version.strip()
    if v.startswith("leanprover/lean4:"):
        v = v.split(":", 1)[1]
    return v if v.startswith("v") else "v" + v


def pins_for(version: str) -> Pins:
    """The pins of a supported version, or ValueError saying why not and what is supported."""
    v = normalise(version)
    if v in SUPPORTED:
        return SUPPORTED[v]
    why = UNSUPPORTED.get(v, "no REPL revision is known for it" if "-" not in v else
                          "release candidates are not pinned (their REPL, Mathlib and lean4checker revisions "
                          "rarely line up)")
    raise ValueError(f"Lean {v} is not supported: {why}. Supported: {', '.join(SUPPORTED)}")


def supported_table() -> str:
    """One line per version, for ``bridge setup --help``."""
    rows = []
    for p in SUPPORTED.values():
        checker = "lean4checker " + ("tag" if p.lean4checker else "none")
        rows.append(f"{p.version} (REPL {p.repl_note}, {checker})")
    return "; ".join(rows)

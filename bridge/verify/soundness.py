"""The Lean-side rules of the soundness gate, each a pure function over REPL answers. Fail closed.

After a candidate elaborates cleanly, one follow-up command runs in its environment::

    #print axioms NAME            (one per gated theorem: free-form code gates every theorem it declares)
    set_option pp.all true in ... #check @NAME

and the same ``#check`` runs once per problem after the reference statement (with a ``sorry`` proof)
in a REPL process that never ran candidate code. A candidate is ``proved`` only when every rule holds.

Every answer is read as an adversary could have written it: a follow-up that is empty, unparseable,
names another constant, or carries an error is not "no news" but an anomaly (rule ``gate``): the worker
may have been taken over by code an earlier candidate ran, so the pool checks the candidate again on a
fresh worker first, and a second anomaly rejects it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.lean.protocol import CommandResponse
from bridge.verify.candidate import Candidate, signature
from bridge.verify.lean_text import mask
from bridge.verify.verdict import SORRY_WARNING

DEFAULT_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
NATIVE_AXIOMS = frozenset({"Lean.ofReduceBool", "Lean.trustCompiler", "Lean.ofReduceNat"})

# Lean's own wording, `printAxiomsOf` in src/Lean/Elab/Print.lean (the same text from Lean 4.9 to
# 4.2x): m!"'{constName}' depends on axioms: {axioms.qsort Name.lt |>.toList}" and
# m!"'{constName}' does not depend on any axioms". Checked against real Lean by tests/test_lean_real.py.
_AXIOMS = re.compile(r"^'(?P<name>[^\n]+?)' depends on axioms: \[(?P<list>[^\]]*)\]\s*$", re.S)
_NO_AXIOMS = re.compile(r"^'(?P<name>[^\n]+?)' does not depend on any axioms\s*$")
_TRY_THIS = re.compile(r"^Try this:")
# `simp?`'s own suggestion (Lean 4.9: "Try this: simp only [h, add_zero]"), and the tactics that make it
_SIMP_SUGGESTION = re.compile(r"^Try this:\s*(?:simp|simp_all|dsimp)(?:\s+only)?(?:\s*\[[^\]\n]*\])?\s*(?:at\s+[^\n]*)?$")
_SIMP_QUERY = re.compile(r"(?<![\w.'?!])(?:simp|simp_all|dsimp)\?(?![\w?!])")

# Printing options fixed inside the follow-up itself, so that options left in the candidate's
# environment cannot make two different types print alike (`pp.all` only sets defaults: an explicit
# `pp.fullNames false` in the environment would win over it). All exist in Lean 4.9.
_PP = ("pp.all", "pp.fullNames", "pp.universes", "pp.proofs")
_PP_OFF = ("pp.beta",)


@dataclass(frozen=True)
class GateOptions:
    allow_native_decide: bool = False
    extra_axioms: frozenset[str] = frozenset()
    fast_gate: bool = False  # accept a stand-in REPL that answers the follow-up with nothing (not Lean)

    def allowed_axioms(self) -> frozenset[str]:
        allowed = DEFAULT_AXIOMS | self.extra_axioms
        return allowed | NATIVE_AXIOMS if self.allow_native_decide else allowed

    def screen_options(self) -> frozenset[str]:
        return frozenset({"allow_native_decide"}) if self.allow_native_decide else frozenset()


@dataclass(frozen=True)
class Rejection:
    rule: str
    reason: str


def check_command(name: str) -> str:
    opts = "".join(f"set_option {o} true in\n" for o in _PP) + "".join(f"set_option {o} false in\n" for o in _PP_OFF)
    return f"{opts}#check @{name}"


def followup_command(name: str, also: tuple[str, ...] | list[str] = ()) -> str:
    """``#print axioms`` for the target and every other gated theorem, then the target's type."""
    prints = "".join(f"#print axioms {n}\n\n" for n in (name, *[a for a in also if a != name]))
    return prints + check_command(name)


def reference_command(candidate: Candidate) -> str:
    """The reference statement with a `sorry` proof, elaborated in the clean header environment."""
    return signature(candidate.statement) + " sorry"


def _plain(name: str) -> str:
    # `«foo»` and `foo` are one name; Lean prints the escapes only where they are needed
    return name.replace("«", "").replace("»", "")


@dataclass(frozen=True)
class Followup:
    """What a follow-up answer says, once it has been read as well-formed."""

    axioms: dict[str, list[str]]  # gated theorem -> its axioms
    printed: str  # the target's type line printed with pp.all, whitespace normalised


def read_followup(names: list[str], resp: CommandResponse | None) -> Followup | str:
    """Parse a follow-up answer for ``names`` (target first); a string says why it is anomalous.

    Well-formed means: no error; exactly one axioms message per gated name, naming it; exactly one
    other info message, the ``#check`` line, and it starts with ``@TARGET :`` (or ``@TARGET.{``).
    """
    if resp is None:
        return "the soundness follow-up did not run"
    msgs = resp.messages or []
    if not msgs:
        return "the soundness follow-up got an empty answer (real Lean always answers `#print axioms`)"
    if resp.errors:
        return "the soundness follow-up failed: " + resp.errors[0].data.strip()[:200]
    axioms: dict[str, list[str]] = {}
    checks: list[str] = []
    want = {_plain(n): n for n in names}
    for m in msgs:
        if m.severity != "info":
            continue
        data = m.data.strip()
        hit = _AXIOMS.match(data) or _NO_AXIOMS.match(data)
        if hit:
            got = _plain(hit.group("name"))
            if got not in want:
                return f"`#print axioms` answered about `{hit.group('name')[:80]}`, not a gated theorem"
            if got in axioms:
                return f"`#print axioms` answered twice about `{got[:80]}`"
            listed = hit.groupdict().get("list") or ""
            axioms[got] = [a.strip() for a in listed.replace("\n", " ").split(",") if a.strip()]
        else:
            checks.append(" ".join(data.split()))
    missing = [n for n in want if n not in axioms]
    if missing:
        return f"`#print axioms {missing[0]}` gave no answer"
    if len(checks) != 1:
        return f"the `#check` of the target gave {len(checks)} answers, not one"
    target = _plain(names[0])
    line = checks[0]
    if not (line.startswith(f"@{target} :") or line.startswith(f"@{target}.{{")):
        return f"the `#check` answered about something else than `{target}`: `{line[:80]}`"
    return Followup({want[k]: v for k, v in axioms.items()}, line)


def parse_axioms(resp: CommandResponse) -> list[str] | None:
    """Axiom names from the first ``#print axioms`` answer; None if there is none (for reports)."""
    for m in resp.messages or []:
        if m.severity != "info":
            continue
        hit = _AXIOMS.match(m.data.strip())
        if hit:
            return [a.strip() for a in hit.group("list").replace("\n", " ").split(",") if a.strip()]
        if _NO_AXIOMS.match(m.data.strip()):
            return []
    return None


def printed_type(resp: CommandResponse) -> str | None:
    """The ``#check @NAME`` line printed with ``pp.all`` (the reference's answer has only that)."""
    for m in resp.messages or []:
        data = m.data.strip()
        if m.severity == "info" and not _AXIOMS.match(data) and not _NO_AXIOMS.match(data):
            return " ".join(data.split())
    return None


def rule_no_sorry(axioms: dict[str, list[str]], body: CommandResponse) -> Rejection | None:
    """1. No `sorry` anywhere: the axioms decide (``sorryAx``), not only the `sorries` field."""
    for name, ax in axioms.items():
        if "sorryAx" in ax:
            return Rejection("sorry", f"`{name}` depends on `sorryAx`: a `sorry` is hidden in the proof")
    if body.sorries or any(SORRY_WARNING.search(m.data) for m in body.messages or []):
        return Rejection("sorry", "Lean reported a `sorry`")
    return None


def rule_statement(candidate: Candidate, follow: Followup, reference: CommandResponse | None) -> Rejection | None:
    """2. The declaration is the reference statement: same name, same fully explicit type."""
    if candidate.kind not in ("theorem", "lemma", "def"):
        return Rejection("statement", f"the target is a `{candidate.kind}`, not a theorem")
    if not candidate.statement:
        return None  # free-form code: no reference to compare with
    if reference is None or reference.errors:
        return Rejection("statement", "the reference statement did not elaborate in the header environment")
    want = printed_type(reference)
    if want is None:
        return Rejection("statement", "the reference statement's type could not be printed")
    if follow.printed != want:
        return Rejection("statement", "the proved type differs from the reference statement "
                         f"(pp.all): got `{follow.printed[:200]}`, expected `{want[:200]}`")
    return None


def rule_axioms(axioms: dict[str, list[str]], options: GateOptions) -> Rejection | None:
    """3. Axioms within the allow-list (propext, Classical.choice, Quot.sound; native with the flag)."""
    for name, ax in axioms.items():
        bad = [a for a in ax if a not in options.allowed_axioms()]
        if bad:
            hint = " (allow with --allow-native-decide)" if set(bad) <= NATIVE_AXIOMS else ""
            return Rejection("axioms", f"`{name}` depends on axioms outside the allow-list: {', '.join(bad)}{hint}")
    return None


def rule_no_search_tactic(body: CommandResponse, code: str = "") -> Rejection | None:
    """4. No ``apply?``/``exact?``/``rw?`` left: they answer with "Try this:".

    One "Try this:" is no search left behind: ``simp?`` (``simp_all?``, ``dsimp?``) runs simp and closes
    or rewrites the goal exactly as ``simp`` does, then suggests its ``simp only [...]`` call. It passes
    only when the suggestion is a simp call and the code (``code``: the model's text with comments and
    strings blanked) holds such a tactic; any other suggestion is refused as before."""
    simp_q = bool(_SIMP_QUERY.search(code))
    for m in body.messages or []:
        if m.severity == "info" and _TRY_THIS.match(m.data):
            if simp_q and _SIMP_SUGGESTION.match(m.data):
                continue
            return Rejection("search_tactic", "a proof-search tactic (`apply?`, `exact?`, ...) was left in the proof")
    return None


def followup_anomaly(candidate: Candidate, followup: CommandResponse | None) -> str | None:
    """Why the follow-up answer is not one real Lean gives, or None (used to retry on a fresh worker)."""
    if not candidate.name:
        return None
    got = read_followup(candidate.gated(), followup)
    return got if isinstance(got, str) else None


def judge(candidate: Candidate, body: CommandResponse, followup: CommandResponse | None,
          reference: CommandResponse | None, options: GateOptions) -> Rejection | None:
    """The first rule that fails, or None. ``body`` must already be free of errors and sorries."""
    if not candidate.name:
        return Rejection("statement", "no theorem to check: the code declares no named theorem")
    follow = read_followup(candidate.gated(), followup)
    if isinstance(follow, str):
        return Rejection("gate", follow)
    for r in (rule_no_sorry(follow.axioms, body), rule_statement(candidate, follow, reference),
              rule_axioms(follow.axioms, options), rule_no_search_tactic(body, mask(candidate.body))):
        if r is not None:
            return r
    return None


def uses_native(followup: CommandResponse | None) -> bool:
    """Whether the fast gate saw a native-code axiom (``native_decide``) in any gated theorem."""
    if followup is None:
        return False
    for m in followup.messages or []:
        hit = _AXIOMS.match(m.data.strip()) if m.severity == "info" else None
        if hit and any(a.strip() in NATIVE_AXIOMS for a in hit.group("list").split(",")):
            return True
    return False

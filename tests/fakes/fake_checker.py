#!/usr/bin/env python3
"""A stand-in for `bridge-check` (lean_project/Bridge/Check.lean) with its exact command line and its one
JSON line, reading the JSON "oleans" that ``fake_lean.py`` writes. It applies the checker's rules to what
a fake olean records, in the checker's order of stages:

* args: `--olean` required; it refuses to run without LEAN_ABORT_ON_PANIC=1 (F2), exit status 2;
* read/import: a runtime-only import (`import runtime X`, S3) and a declaration in `Quot` (S4) are
  refused at stage `read`, a module without imports (S4: `Quot` must come from an import) at `import`;
* replay: STRICT_KERNEL (the kernel replay fails), native_decide / FAKE_NATIVE (Lean.ofReduceBool, and the
  replay fails as lean4checker's ReduceBool test does), STRICT_CHECKER_CRASH (dies without a JSON line);
* reference: the imports must be the reference's;
* target: no target named is a rejection (F1); a target resolves exactly (S5: `«foo.bar»` is one
  component and never `foo.bar`); its kind and signature must be the reference's (STRICT_TYPE changes
  it), and so must every definition of the reference the signature uses, transitively (S1: the fake
  olean's recorded `defs`, which STRICT_FORGE_USED changes as a forged .olean would);
* axioms: every axiom of a target must be one of the `--allow-axiom` names (S2: STRICT_AXIOM adds
  `cheat`, `sorry` adds sorryAx).

Environment: FAKE_TOOL_LOG=path (one line per call: argv and LEAN_PATH).
"""

from __future__ import annotations

import json
import os
import re
import sys

LEAD = r"(?:@\[[^\]]*\]\s*)?(?:(?:private|protected|noncomputable)\s+)*"  # attributes and modifiers
DECL = re.compile(r"(?m)^[ \t]*" + LEAD + r"(theorem|lemma|def)\s+(«[^»]*»|[^\s:(\[{]+)(.*?):=", re.S)


def emit(ok: bool, stage: str, error: str | None, imports: list[str], targets: list[dict]) -> int:
    print(json.dumps({"ok": ok, "stage": stage, "error": error, "imports": imports, "targets": targets}))
    return 0 if ok else (2 if stage == "args" else 1)


def parse_name(s: str) -> tuple[str, ...] | None:
    """A name as components, split at dots outside «» (what Check.lean's parseTarget does)."""
    parts, cur, inside = [], "", False
    for ch in s:
        if inside:
            if ch == "»":
                inside = False
            else:
                cur += ch
        elif ch == "«":
            inside = True
        elif ch == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return None if inside or any(not p for p in parts) else tuple(parts)


def decls(source: str) -> dict[tuple[str, ...], tuple[str, str]]:
    """name (components) -> (kind, signature) of each declaration at column 0."""
    out = {}
    source = re.sub(r"/-.*?-/|--[^\n]*", " ", source, flags=re.S)  # the constants, not the comments
    chunks = re.split(r"(?m)^(?=[ \t]*" + LEAD + r"(?:theorem|lemma|def)\s)", source)  # a signature never runs into the next one
    for m in (DECL.match(ch) for ch in chunks):
        if m is None:
            continue
        n = parse_name(m.group(2))
        if n is not None:
            out.setdefault(n, ("theorem" if m.group(1) == "lemma" else m.group(1), " ".join(m.group(3).split())))
    return out


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_'.]*", text))


def closure_problems(target: str, signature: str, ref_defs: dict[str, str], cand_defs: dict[str, str]) -> list[str]:
    """S1: every definition of the reference that the signature uses (transitively) is the candidate's too."""
    work, seen, problems = list(words(signature)), {target}, []
    while work:
        n = work.pop()
        if n in seen or n not in ref_defs:
            continue
        seen.add(n)
        if cand_defs.get(n) != ref_defs[n]:
            problems.append(f"'{n}', used by the reference statement of '{target}', differs from the reference's")
        work += list(words(ref_defs[n]))
    return problems


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_TOOL_LOG")
    if log:
        try:
            with open(log, "a") as f:
                f.write("bridge-check " + " ".join(argv) + f" LEAN_PATH={os.environ.get('LEAN_PATH', '')}\n")
        except OSError:
            pass
    olean = ref = None
    targets: list[str] = []
    allowed: set[str] = set()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--olean", "--reference", "--target", "--allow-axiom") and i + 1 < len(argv):
            if a == "--olean":
                olean = argv[i + 1]
            elif a == "--reference":
                ref = argv[i + 1]
            elif a == "--target":
                targets.append(argv[i + 1])
            else:
                allowed.add(argv[i + 1])
            i += 2
        elif a == "--all-theorems":
            i += 1
        else:
            return emit(False, "args", f"unexpected or incomplete argument '{a}'", [], [])
    if olean is None:
        return emit(False, "args", "--olean is required", [], [])
    if os.environ.get("LEAN_ABORT_ON_PANIC") != "1":
        return emit(False, "args", "LEAN_ABORT_ON_PANIC=1 must be set (a panic must abort the check)", [], [])
    try:
        mod = json.load(open(olean, encoding="utf-8"))
        assert mod.get("format") == "fake-olean"
    except (OSError, ValueError, AssertionError) as e:
        return emit(False, "read", f"cannot read {olean}: {e}", [], [])
    src = mod["source"]
    imports = mod["imports"]
    if mod.get("runtime_only"):
        return emit(False, "read", f"the candidate module has a runtime-only import of {mod['runtime_only'][0]} "
                    "(it would load nothing)", imports, [])
    own = decls(src)
    in_quot = [".".join(n) for n in own if n[0] == "Quot"]
    if in_quot:
        return emit(False, "read", f"the candidate module declares '{in_quot[0]}' in `Quot` (only `Init.Core` may)",
                    imports, [])
    if not imports:
        return emit(False, "import", "the candidate module has no imports (prelude modules are not accepted)",
                    imports, [])
    # what is code (as the fake REPL reads it): comments and strings do not count for the markers below
    code = re.sub(r"/-.*?-/|--[^\n]*|\"(?:\\.|[^\"\\])*\"", " ", src, flags=re.S)
    if "STRICT_CHECKER_CRASH" in src:
        os._exit(139)
    if "STRICT_KERNEL" in src:
        return emit(False, "replay", "(kernel) declaration type mismatch, 'strict_t' has type\n  Prop", imports, [])
    if "native_decide" in code or "FAKE_NATIVE" in src:
        return emit(False, "replay", "(kernel) unknown declaration 'foo'", imports, [])
    refmod = None
    if ref is not None:
        try:
            refmod = json.load(open(ref, encoding="utf-8"))
        except (OSError, ValueError) as e:
            return emit(False, "reference", f"cannot read {ref}: {e}", imports, [])
        if refmod.get("imports") != imports:
            return emit(False, "reference", "the candidate's imports differ from the reference's", imports, [])
    if not targets:
        return emit(False, "target", "no target was named (--target or --all-theorems): there is nothing to check",
                    imports, [])
    out, problems, axioms_of = [], [], {}
    for name in targets:
        n = parse_name(name)
        got = own.get(n) if n is not None else None
        if got is None:
            problems.append(f"target '{name}' is not a declaration of the candidate module")
            continue
        axioms = ["propext"]
        if "STRICT_AXIOM" in src:
            axioms.append("cheat")
        if re.search(r"(?<![\w.])sorry(?![\w])", code):
            axioms.append("sorryAx")
        matches = None
        if refmod is not None:
            want = decls(refmod["source"]).get(n)
            typ = got[1] + (" ∧ True" if "STRICT_TYPE" in src else "")
            matches = want is not None and want == (got[0], typ)
            if not matches:
                problems.append(f"the type (statement) of target '{name}' differs from the reference's")
            else:
                closure = closure_problems(".".join(n), want[1], refmod.get("defs", {}), mod.get("defs", {}))
                problems += closure
                matches = not closure
        out.append({"name": name, "kind": got[0], "axioms": sorted(axioms), "type_matches": matches})
        axioms_of[name] = axioms
    if problems:
        return emit(False, "target", "; ".join(problems), imports, out)
    bad = [f"target '{t}' depends on axiom '{a}', which is not allowed" for t, axs in axioms_of.items()
           for a in axs if a not in allowed]
    if bad:
        return emit(False, "axioms", "; ".join(bad), imports, out)
    return emit(True, "done", None, imports, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

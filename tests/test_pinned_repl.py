"""The harness against REPL v4.9.0's real behaviour (the fake's pinned mode): answers that are never
flushed to a pipe, a failing import that answers a bare env, and REPLs that cannot start at all."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.errors import SetupError
from bridge.lean.pool import Job, Pool, PoolLimits
from bridge.lean.protocol import Command
from bridge.lean.repl import Repl, ReplFault
from bridge.verify.api import Verifier
from bridge.verify.candidate import from_parts
from tests.conftest import FAKE_REPL, ROOT, fake_repl_cmd, repl_log

STMT = "theorem t (x : Nat) : x = x := by\n"
PINNED = {"FAKE_REPL_PINNED": "1"}


def fake(**env: str) -> Repl:
    return Repl([sys.executable, str(FAKE_REPL)], env=dict(os.environ, **env))


def pinned_repl(kind: str) -> Repl:
    r = Repl([sys.executable, str(FAKE_REPL)], env=dict(os.environ, **PINNED), transport_kind=kind)
    r.start()
    return r


# -- the double is as bad as REPL v4.9.0 --------------------------------------------------------------


def test_pinned_fake_holds_its_answers_on_a_pipe() -> None:
    """Over a pipe the header's answer of REPL v4.9.0 never arrives: the double must behave the same."""
    r = pinned_repl("pipe")
    try:
        with pytest.raises(ReplFault) as e:
            r.send(Command(cmd="import Mathlib"), timeout=1.5)
        assert e.value.kind == "timeout"
    finally:
        r.kill()


def test_pinned_fake_flushes_at_exit_and_loses_output_on_a_crash() -> None:
    """C stdio: a normal exit writes what was held; a crash loses it."""
    reqs = json.dumps({"cmd": "import Mathlib"}) + "\n\n" + json.dumps({"cmd": "theorem a : True := trivial", "env": 0})
    ok = subprocess.run([sys.executable, str(FAKE_REPL)], input=reqs + "\n\n", capture_output=True, text=True,
                        env=dict(os.environ, **PINNED), timeout=30)
    assert ok.returncode == 0 and '"env": 1' in ok.stdout
    crash = subprocess.run([sys.executable, str(FAKE_REPL)], capture_output=True, text=True, timeout=30,
                           input=reqs + "\n\n" + json.dumps({"cmd": "-- FAKE_CRASH", "env": 0}) + "\n\n",
                           env=dict(os.environ, **PINNED))
    assert crash.returncode == 1 and crash.stdout == ""  # two answers were held, and are lost


def test_pty_transport_gets_every_answer_of_the_pinned_fake_at_once() -> None:
    r = pinned_repl("pty")
    try:
        head = r.send(Command(cmd="import Mathlib"), timeout=5)
        assert head.env == 0  # type: ignore[union-attr]
        for i in range(20):
            got = r.send(Command(cmd=f"theorem t{i} : True := trivial", env=0), timeout=5)
            assert got.env == i + 1  # type: ignore[union-attr]
    finally:
        r.kill()


def test_a_megabyte_request_and_raw_bytes_cross_the_pty_unchanged() -> None:
    """stdin stays a pipe (a terminal would cut a line at 4,095 bytes); stdout is raw (no \\r\\n)."""
    r = pinned_repl("pty")
    try:
        r.send(Command(cmd="import Mathlib"), timeout=5)
        body = "theorem big : True := by\n  trivial -- FAKE_LEN " + "α" * 500_000 + "\n"
        got = r.send(Command(cmd=body, env=0), timeout=30)
        info = got.messages[0].data  # type: ignore[union-attr]
        assert info == f"received {len(body.encode())} bytes, sha256 {hashlib.sha256(body.encode()).hexdigest()}"
        assert b"\r" not in r._buf
        with pytest.raises(ReplFault) as e:
            r.send(Command(cmd="-- FAKE_NONUTF8", env=0), timeout=5)
        assert e.value.kind == "protocol" and "non-UTF-8" in e.value.detail and "\\xff\\xfe" in e.value.evidence
    finally:
        r.kill()


@pytest.mark.parametrize("kind", ["pty", "pipe"])
def test_a_megabyte_answer_arrives_whole(kind: str) -> None:
    """A 1 MB answer crosses in many reads (a pty gives at most 4 KB a read): none of it is cut or lost,
    and a terminator split between two reads is still found."""
    env = dict(os.environ, **PINNED) if kind == "pty" else dict(os.environ)
    r = Repl([sys.executable, str(FAKE_REPL)], env=env, transport_kind=kind)
    r.start()
    try:
        r.send(Command(cmd="import Mathlib"), timeout=5)
        body = "theorem big : True := by\n  trivial -- FAKE_ECHO " + "β\\n\x01" * 350_000 + "\n"
        for i in range(2):
            got = r.send(Command(cmd=body, env=0), timeout=60)
            assert got.env == i + 1  # type: ignore[union-attr]
            assert got.messages[0].data == body  # type: ignore[union-attr]
        assert not r._buf.strip()
    finally:
        r.kill()


def test_pinned_fake_answers_a_failed_import_with_a_bare_env() -> None:
    r = pinned_repl("pty")
    try:
        head = r.send(Command(cmd="import Nonexistent"), timeout=5)
        assert head.env == 0 and not head.messages  # type: ignore[union-attr]
        probe = r.send(Command(cmd="#check Nat", env=0), timeout=5)
        assert probe.errors and "unknown identifier" in probe.errors[0].data  # type: ignore[union-attr]
    finally:
        r.kill()


# -- the harness gives the same verdicts as with a flushing REPL -----------------------------------


CASES = {
    "proved": ("  rfl", "proved"),
    "failed": ("  exact FAKE_ERROR", "failed"),
    "unsolved": ("  simp -- FAKE_UNSOLVED", "incomplete"),
    "sorry": ("  sorry", "rejected"),
    "hidden": ("  rfl -- FAKE_HIDDEN_SORRY", "rejected"),
    "axiom": ("  rfl -- FAKE_AXIOM", "rejected"),
    "typediff": ("  rfl -- FAKE_TYPE_DIFF", "rejected"),
    "crash": ("  rfl -- FAKE_CRASH", "crashed"),
    "hang": ("  rfl -- FAKE_HANG", "timeout"),
    "half": ("  rfl -- FAKE_HALF", "crashed"),
}


def _verdicts(cfg) -> dict[str, tuple[str, str | None]]:
    cands = [from_parts(k, "import Mathlib\n", STMT, p) for k, (p, _) in CASES.items()]
    cands.append(from_parts("bad-header", "import Nonexistent\n", STMT, "  rfl"))
    with Verifier(cfg) as v:
        return {x.id: (x.verdict, x.rule) for x in v.verify(cands)}


@pytest.mark.parametrize("workers", [1, 3])
def test_pinned_and_flushing_repls_give_the_same_verdicts(fake_cfg, workers: int) -> None:
    flushing = _verdicts(fake_cfg(workers=workers, timeout=2.0, sandbox=False))
    pinned = _verdicts(fake_cfg(workers=workers, timeout=2.0, sandbox=False, **PINNED))
    assert pinned == flushing
    assert {k: v for k, (v, _) in pinned.items() if k in CASES} == {k: want for k, (_, want) in CASES.items()}
    assert pinned["bad-header"] == ("crashed", "setup")


def test_a_bad_header_beside_a_good_one_is_a_setup_error_and_never_cached(fake_cfg) -> None:
    cfg = fake_cfg(workers=2, timeout=3.0, sandbox=False, **PINNED)
    cands = [from_parts(f"good{i}", "import Mathlib\n", STMT, f"  rfl -- {i}") for i in range(4)]
    cands += [from_parts(f"bad{i}", "import Nonexistent\n", STMT, f"  rfl -- {i}") for i in range(4)]
    for _ in range(2):  # the second run must not find the setup errors in the cache
        with Verifier(cfg) as v:
            got = {x.id: x for x in v.verify(cands)}
            assert len(v.setup_errors) == 1
            assert "imports did not load" in next(iter(v.setup_errors.values()))
        assert all(got[f"good{i}"].verdict == "proved" for i in range(4))
        for i in range(4):
            b = got[f"bad{i}"]
            assert b.verdict == "crashed" and b.rule == "setup" and not b.cached
            assert "imports did not load" in (b.reason or "")


def test_cli_reports_a_bad_header_once_with_the_next_step(tmp_path: Path) -> None:
    rows = [{"id": f"b{i}", "header": "import Nonexistent\n", "formal_statement": STMT, "proof": f"  rfl -- {i}"}
            for i in range(3)] + [{"id": "g", "formal_statement": STMT, "proof": "  rfl"}]
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = subprocess.run([sys.executable, "-m", "bridge", "verify", str(f), "--json", "--no-sandbox", "--workers", "2",
                        "--repl-cmd", fake_repl_cmd(**PINNED), "--cache-dir", str(tmp_path / "cache")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    got = {json.loads(ln)["id"]: json.loads(ln) for ln in r.stdout.splitlines()}
    assert got["g"]["verdict"] == "proved"
    assert all(got[f"b{i}"]["verdict"] == "crashed" and got[f"b{i}"]["rule"] == "setup" for i in range(3))
    assert r.stderr.count("imports did not load") == 1 and "import Nonexistent" in r.stderr and "next step" in r.stderr


# -- a REPL that cannot start ------------------------------------------------------------------------


@pytest.mark.parametrize("cmd,quote", [
    (f"{sys.executable} /nonexistent/repl.py", "/nonexistent/repl.py"),
    ("/nonexistent/bin/repl", "/nonexistent/bin/repl"),
    (fake_repl_cmd(FAKE_REPL_START_FAIL="error: libleanshared.so: cannot open shared object file"),
     "libleanshared.so"),
])
def test_a_repl_that_cannot_start_is_a_setup_error_quoting_the_command(tmp_path: Path, cmd: str, quote: str) -> None:
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps({"id": f"c{i}", "formal_statement": STMT, "proof": "  rfl"}) + "\n"
                         for i in range(3)))
    r = subprocess.run([sys.executable, "-m", "bridge", "verify", str(f), "--json", "--no-sandbox", "--workers", "2",
                        "--repl-cmd", cmd, "--cache-dir", str(tmp_path / "cache"), "--timeout", "10"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 3, r.stderr
    assert quote in r.stderr and ("could not start" in r.stderr or "cannot start" in r.stderr)
    assert "did not elaborate" not in r.stderr and "header" not in r.stderr
    assert r.stdout == ""  # no verdict was made up


def test_a_header_that_crashes_a_working_repl_is_a_header_error_not_a_start_error(fake_cfg) -> None:
    cfg = fake_cfg(workers=1, timeout=3.0, sandbox=False)
    cands = [from_parts("boom", "import Mathlib -- FAKE_HEADER_CRASH\n", STMT, "  rfl"),
             from_parts("fine", "import Mathlib\n", STMT, "  rfl")]
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify(cands)}
    assert got["boom"].verdict == "crashed" and got["boom"].rule == "setup"
    assert "crashed the REPL" in (got["boom"].reason or "")
    assert got["fine"].verdict == "proved"


def test_start_failure_raises_from_the_python_api(fake_cfg) -> None:
    cfg = fake_cfg(workers=2, timeout=3.0, sandbox=False, FAKE_REPL_START_FAIL="bwrap: Can't mount proc")
    with Verifier(cfg) as v, pytest.raises(SetupError) as e:
        list(v.verify([from_parts("a", None, STMT, "  rfl")]))
    assert "Can't mount proc" in str(e.value) and "next step" in str(e.value)


# -- the scheduler elaborates each header as often as needed, no more --------------------------------


def test_two_headers_two_workers_elaborate_each_header_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = dict(os.environ, FAKE_REPL_LOG=str(log), FAKE_REPL_HEADER_DELAY="0.3")
    jobs = [Job(header=f"import Mathlib\n-- header {i % 2}\n", body=f"theorem t{i} : True := trivial")
            for i in range(40)]
    with Pool(lambda: Repl([sys.executable, str(FAKE_REPL)], env=env), workers=2,
              limits=PoolLimits(timeout=10, header_timeout=10)) as pool:
        outs = list(pool.run(jobs))
    assert all(o.status == "ok" for o in outs) and len(outs) == 40
    assert [k for _, k, _ in repl_log(log)].count("header") == 2


def test_prove_gives_the_same_report_with_the_pinned_repl(tmp_path: Path) -> None:
    """`bridge prove` end to end (tiny model, fixed seed) with the flushing and the pinned fake REPL."""
    pytest.importorskip("transformers")
    from tests.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "model")
    reports = []
    for name, env in (("flushing", {}), ("pinned", PINNED)):
        run_dir = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "bridge", "prove", "demo", "--limit", "3", "--samples", "3",
                            "--model", str(model), "--template", "deepseek-v1.5", "--max-tokens", "16", "--seed", "1",
                            "--run-dir", str(run_dir), "--repl-cmd", fake_repl_cmd(**env), "--no-cache",
                            "--no-sandbox", "--workers", "2"], capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert r.returncode == 0, r.stderr
        report = json.loads((run_dir / "report.json").read_text())
        reports.append((report["pass_at_k"], report["verdicts"], [(p["id"], p["c"]) for p in report["problems"]]))
    assert reports[0] == reports[1]


def test_doctor_probes_the_repl_it_would_use(tmp_path: Path) -> None:
    def doctor(cmd: str) -> dict:
        r = subprocess.run([sys.executable, "-m", "bridge", "doctor", "--json", "--repl-cmd", cmd],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
        return json.loads(r.stdout) | {"rc": r.returncode}

    for env in ({}, PINNED):  # the pinned REPL answers the doctor's probe too (over the pty)
        d = doctor(fake_repl_cmd(**env))
        probe = next(c for c in d["checks"] if c["item"] == "repl probe")
        assert d["rc"] == 0 and probe["ok"] and "answered" in probe["value"], probe
    d = doctor(fake_repl_cmd(FAKE_REPL_START_FAIL="error: cannot load libleanshared.so"))
    probe = next(c for c in d["checks"] if c["item"] == "repl probe")
    assert d["rc"] == 1 and not probe["ok"] and "libleanshared" in probe["note"]


# -- an answer ends at its last brace, before its blank line arrives ----------------------------------

SPLIT_WRITER = r"""
import os, sys, time
parts = [p.encode().decode("unicode_escape").encode() for p in sys.argv[1:]]
sys.stdin.buffer.readline()
for p in parts:  # each part in its own write, a pause between: as C stdio flushes a terminal per line
    os.write(1, p)
    time.sleep(float(os.environ.get("PAUSE", "3")))
time.sleep(60)
"""


def split_writer(*parts: str, pause: float = 3.0) -> Repl:
    r = Repl([sys.executable, "-c", SPLIT_WRITER, *parts], env=dict(os.environ, PAUSE=str(pause)),
             transport_kind="pty")
    r.start()
    return r


def test_a_whole_object_is_the_answer_before_its_blank_line() -> None:
    """REPL v4.9.0 writes the JSON and the blank line with two println calls, two writes on a terminal:
    the answer is taken at the object's last brace, without waiting for the second write."""
    r = split_writer('{"env":\\n 0}\\n', "\\n")
    try:
        got = r.send(Command(cmd="import Mathlib"), timeout=2)  # the blank line comes only after 3 s
        assert got.env == 0 and r.stats.requests == 1  # type: ignore[union-attr]
    finally:
        r.kill()


def test_a_brace_that_ends_a_line_inside_the_answer_does_not_end_it() -> None:
    """A line of a pretty-printed answer may end in `}` before the object is whole: the rest is awaited."""
    r = split_writer('{"messages":\\n [{"severity": "info", "data": "a}"}\\n', '], "env": 0}\\n\\n', pause=0.5)
    try:
        got = r.send(Command(cmd="import Mathlib"), timeout=5)
        assert got.env == 0 and got.messages[0].data == "a}"  # type: ignore[union-attr]
    finally:
        r.kill()


@pytest.mark.parametrize("first", ['{"env": 0}\\n', '{"env": 0}\\n\\n'])
def test_a_second_object_after_an_early_answer_is_refused_as_with_a_blank_line(first: str) -> None:
    """Ending an answer early trusts nothing new: a replayed answer that follows it fails the next request,
    exactly as it does when a blank line separates the two (a forger can always print the blank line)."""
    r = split_writer(first, '{"env": 0}\\n\\n', pause=0.5)
    try:
        assert r.send(Command(cmd="import Mathlib"), timeout=5).env == 0  # type: ignore[union-attr]
        import time

        time.sleep(1.0)  # the second object has arrived by now
        with pytest.raises(ReplFault) as e:
            r.send(Command(cmd="theorem x : True := trivial", env=0), timeout=3)
        assert e.value.kind == "protocol" and "env 0" in e.value.detail
    finally:
        r.kill()

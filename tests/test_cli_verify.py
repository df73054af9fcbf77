"""`bridge verify`: the JSON-lines contract, exit statuses, bad input, the CLI end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, fake_repl_cmd

STMT = "theorem t (x : Nat) : x = x := by\n"


def bridge(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd, env=e,
                          timeout=300)


def rows_file(tmp_path: Path, rows: list[object], name: str = "c.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return p


def test_json_contract(tmp_path: Path) -> None:
    rows = [{"id": "ok", "header": "import Mathlib\n", "formal_statement": STMT, "proof": "  rfl"},
            {"id": "err", "formal_statement": STMT, "proof": "  exact FAKE_ERROR"},
            {"id": "code", "code": "theorem c : True := by\n  trivial"},
            {"id": "cheat", "formal_statement": STMT, "proof": "  sorry"}]
    r = bridge("verify", str(rows_file(tmp_path, rows)), "--json", "--repl-cmd", fake_repl_cmd(), "--workers", "2",
               "--cache-dir", str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4
    got = {}
    for line in lines:
        d = json.loads(line)
        assert {"id", "verdict", "messages", "reason", "timings"} <= set(d)
        assert d["verdict"] in ("proved", "failed", "incomplete", "timeout", "crashed", "rejected")
        assert (d["reason"] is None) == (d["verdict"] == "proved")
        got[d["id"]] = d
    assert got["ok"]["verdict"] == "proved" and got["code"]["verdict"] == "proved"
    assert got["err"]["verdict"] == "failed" and got["err"]["messages"][0]["severity"] == "error"
    assert got["cheat"]["verdict"] == "rejected"
    assert "verdict" in r.stderr  # the summary table goes to stderr with --json


def test_body_is_sent_unchanged(tmp_path: Path) -> None:
    """The REPL receives the header command, then the body exactly as given, comments included."""
    log = tmp_path / "requests"
    script = tmp_path / "logging_repl.py"
    script.write_text(
        "import json, sys, runpy\n"
        f"log = open({str(log)!r}, 'a')\n"
        "orig = sys.stdin\n"
        "class Tee:\n"
        "    buffer = None\n"
        "def lines():\n"
        "    for raw in orig.buffer:\n"
        "        log.write(raw.decode()); log.flush()\n"
        "        yield raw\n"
        "class B:\n"
        "    def __iter__(self): return lines()\n"
        "Tee.buffer = B()\n"
        "sys.stdin = Tee\n"
        f"runpy.run_path({str(ROOT / 'tests' / 'fakes' / 'fake_repl.py')!r}, run_name='__main__')\n")
    proof = "  -- a comment, kept\n  rfl"
    src = rows_file(tmp_path, [{"id": "x", "header": "import Mathlib\nopen Nat\n", "formal_statement": STMT, "proof": proof}])
    r = bridge("verify", str(src), "--json", "--repl-cmd", f"{sys.executable} {script}", "--no-cache", "--no-sandbox")
    assert r.returncode == 0, r.stderr
    reqs = [json.loads(c) for c in log.read_text().split("\n\n") if c.strip()]
    assert reqs[0] == {"cmd": "import Mathlib\nopen Nat\n"}
    assert reqs[1] == {"cmd": STMT + proof, "env": 0}


def test_lean_file_input(tmp_path: Path) -> None:
    f = tmp_path / "p.lean"
    f.write_text("import Mathlib\nopen Real\n\ntheorem p : True := by\n  trivial\n", encoding="utf-8")
    r = bridge("verify", str(f), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["verdict"] == "proved" and json.loads(r.stdout)["id"] == "p"


@pytest.mark.parametrize("bad,needle", [
    ("{not json", "not valid JSON"), ('{"id": "a"}', "needs \"code\""), ('[1, 2]', "JSON object"),
    ('{"formal_statement": "x", "proof": "y"}', "no \"id\""),
])
def test_malformed_row_names_file_and_line_and_keeps_earlier_verdicts(tmp_path: Path, bad: str, needle: str) -> None:
    good = {"id": "first", "formal_statement": STMT, "proof": "  rfl"}
    src = rows_file(tmp_path, [good, bad])
    r = bridge("verify", str(src), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert r.returncode == 2
    assert f"{src}:2:" in r.stderr and needle in r.stderr and "next step" in r.stderr
    assert json.loads(r.stdout.splitlines()[0])["id"] == "first"  # the verdict done before the bad row survives


def test_non_utf8_file(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_bytes(b'{"id": "a", "code": "theorem a : True := trivial"}\n{"id": "\xff"}\n')
    r = bridge("verify", str(src), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert r.returncode == 2 and f"{src}:2: not UTF-8" in r.stderr


def test_oversized_candidate_gets_a_size_verdict_and_the_batch_goes_on(tmp_path: Path) -> None:
    src = rows_file(tmp_path, [{"id": "huge", "formal_statement": STMT, "proof": "  rfl\n" + "-- x\n" * 300_000},
                               {"id": "after", "formal_statement": STMT, "proof": "  rfl"}])
    r = bridge("verify", str(src), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert r.returncode == 0, r.stderr
    got = {json.loads(x)["id"]: json.loads(x) for x in r.stdout.splitlines()}
    assert got["huge"]["verdict"] == "rejected" and got["huge"]["rule"] == "size"
    assert re.search(r"is 1,\d{3},\d{3} bytes, over the 1,000,000-byte limit", got["huge"]["reason"])
    assert got["after"]["verdict"] == "proved"


def test_usage_errors_exit_nonzero(tmp_path: Path) -> None:
    assert bridge("verify", str(tmp_path / "missing.jsonl"), "--repl-cmd", fake_repl_cmd()).returncode != 0
    assert bridge("verify").returncode != 0
    assert bridge("verify", "x.jsonl", "--workers", "many").returncode != 0


def test_repl_cmd_from_environment(tmp_path: Path) -> None:
    src = rows_file(tmp_path, [{"id": "a", "formal_statement": STMT, "proof": "  rfl"}])
    r = bridge("verify", str(src), "--json", "--no-cache", env={"BRIDGE_REPL_CMD": fake_repl_cmd()})
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"] == "proved"


def test_setup_error_reported_once(tmp_path: Path) -> None:
    rows = [{"id": f"c{i}", "header": "import Nonexistent\n", "formal_statement": STMT, "proof": "  rfl"} for i in range(20)]
    r = bridge("verify", str(rows_file(tmp_path, rows)), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert r.returncode == 0
    assert r.stderr.count("setup error: the header") == 1 and "next step" in r.stderr
    assert all(json.loads(x)["verdict"] == "crashed" for x in r.stdout.splitlines())


def test_help_of_every_subcommand() -> None:
    for args in ([], ["verify"], ["prove"], ["report"], ["data"], ["data", "list"], ["data", "check"],
                 ["data", "bands"], ["setup"], ["doctor"]):
        r = bridge(*args, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout, args


def test_a_repl_without_soundness_answers_gets_the_fast_gate_only_when_asked(tmp_path: Path) -> None:
    """A stand-in that answers every command with just an env is not Lean: rejected (rule gate) unless
    --allow-fast-gate, and then its verdicts say gate=fast."""
    dumb = tmp_path / "dumb.py"
    dumb.write_text(
        "import json, sys\nn = 0\nbuf = []\n"
        "for line in sys.stdin:\n"
        "    if line.strip():\n        buf.append(line); continue\n"
        "    if not buf: continue\n"
        "    req = json.loads(''.join(buf)); buf = []\n"
        "    out = {'env': n}; n += 1\n"
        "    if 'bad' in req['cmd']: out['messages'] = [{'severity': 'error', 'pos': {'line': 1, 'column': 0},"
        " 'endPos': {'line': 1, 'column': 1}, 'data': 'unknown identifier'}]\n"
        "    print(json.dumps(out) + '\\n', flush=True)\n")
    rows = [{"id": "a", "formal_statement": STMT, "proof": "  rfl"}, {"id": "b", "formal_statement": STMT, "proof": "  bad"}]
    r0 = bridge("verify", str(rows_file(tmp_path, rows)), "--json", "--repl-cmd", f"{sys.executable} {dumb}",
                "--no-cache")
    closed = {json.loads(x)["id"]: json.loads(x) for x in r0.stdout.splitlines()}
    assert closed["a"]["verdict"] == "rejected" and closed["a"]["rule"] == "gate"
    r = bridge("verify", str(rows_file(tmp_path, rows)), "--json", "--repl-cmd", f"{sys.executable} {dumb}", "--no-cache",
               "--allow-fast-gate")
    assert r.returncode == 0, r.stderr
    got = {json.loads(x)["id"]: json.loads(x) for x in r.stdout.splitlines()}
    assert got["a"]["verdict"] == "proved" and got["a"]["gate"] == "fast"
    assert got["b"]["verdict"] == "failed"
    assert "fast gate only" in r.stderr


def test_stdin_dash_reads_jsonl_and_lean(tmp_path: Path) -> None:
    rows = json.dumps({"id": "a", "formal_statement": STMT, "proof": "  rfl"}) + "\n"
    e = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "bridge", "verify", "-", "--json", "--repl-cmd", fake_repl_cmd(),
                        "--no-cache", "--no-sandbox"], input=rows, capture_output=True, text=True, cwd=ROOT, env=e,
                       timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"] == "proved", r.stderr
    lean = "import Mathlib\n\ntheorem p : True := by\n  trivial\n"
    r = subprocess.run([sys.executable, "-m", "bridge", "verify", "-", "--json", "--repl-cmd", fake_repl_cmd(),
                        "--no-cache", "--no-sandbox"], input=lean, capture_output=True, text=True, cwd=ROOT, env=e,
                       timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == "stdin", r.stderr


def test_skip_bad_rows_reports_and_goes_on(tmp_path: Path) -> None:
    src = rows_file(tmp_path, [{"id": "a", "formal_statement": STMT, "proof": "  rfl"}, "{not json",
                               {"id": "b", "formal_statement": STMT, "proof": "  rfl"}])
    r = bridge("verify", str(src), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache", "--skip-bad-rows")
    assert r.returncode == 0, r.stderr
    assert {json.loads(x)["id"] for x in r.stdout.splitlines()} == {"a", "b"}
    assert f"skipped: {src}:2: not valid JSON" in r.stderr and "skipped malformed rows: 1" in r.stderr


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    row = {"id": "a", "formal_statement": STMT, "proof": "  rfl"}
    src = rows_file(tmp_path, [row, {"id": "b", "formal_statement": STMT, "proof": "  rfl"}, row])
    r = bridge("verify", str(src), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert r.returncode == 2 and f"{src}:3: duplicate id 'a' (first on line 1)" in r.stderr


def test_empty_input_is_an_error_unless_allowed(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("\n")
    r = bridge("verify", str(src), "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert r.returncode == 2 and "no candidates" in r.stderr and "--allow-empty" in r.stderr
    assert bridge("verify", str(src), "--repl-cmd", fake_repl_cmd(), "--no-cache", "--allow-empty").returncode == 0


def test_a_directory_and_a_missing_file_are_told_apart(tmp_path: Path) -> None:
    r = bridge("verify", str(tmp_path), "--repl-cmd", fake_repl_cmd())
    assert r.returncode == 2 and "is a directory" in r.stderr
    r = bridge("verify", str(tmp_path / "nope.jsonl"), "--repl-cmd", fake_repl_cmd())
    assert r.returncode == 2 and "no such file" in r.stderr


def test_per_theorem_gives_one_verdict_per_theorem(tmp_path: Path) -> None:
    f = tmp_path / "Two.lean"
    f.write_text("import Mathlib\n\ntheorem good : True := by\n  trivial\n\n"
                 "theorem bad (x : Nat) : x = x := by\n  exact FAKE_ERROR\n", encoding="utf-8")
    r = bridge("verify", str(f), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache", "--per-theorem")
    got = {json.loads(x)["id"]: json.loads(x)["verdict"] for x in r.stdout.splitlines()}
    assert got == {"Two:good": "proved", "Two:bad": "failed"}, r.stderr
    whole = bridge("verify", str(f), "--json", "--repl-cmd", fake_repl_cmd(), "--no-cache")
    assert [json.loads(x)["verdict"] for x in whole.stdout.splitlines()] == ["failed"]


def test_ctrl_c_prints_and_caches_what_was_decided_and_exits_130(tmp_path: Path) -> None:
    import signal
    import time

    rows = [{"id": f"c{i}", "formal_statement": STMT, "proof": f"  rfl -- {i}"} for i in range(40)]
    src = rows_file(tmp_path, rows)
    args = [sys.executable, "-m", "bridge", "verify", str(src), "--json", "--workers", "2", "--no-sandbox",
            "--repl-cmd", fake_repl_cmd(FAKE_REPL_BURN="0.3"), "--cache-dir", str(tmp_path / "cache")]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(4)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert time.monotonic() - t0 < 8  # in-flight checks get 3 s, then are abandoned
    done = {json.loads(x)["id"] for x in out.splitlines()}
    assert 0 < len(done) < 40 and "stopped" in err
    assert f"checked in Lean: {len(done)} (sent but not decided: " in err  # decided verdicts only
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    again = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 0 and len(again) == 40
    assert {v["id"] for v in again if v["cached"]} >= done  # nothing decided was checked twice


@pytest.mark.parametrize("how", ["file", "stdin", "code row"])
def test_a_header_line_the_model_wrote_is_screened_end_to_end(tmp_path: Path, how: str) -> None:
    """Issue 25: `set_option debug.skipKernelTC true` at the top of model text is refused in every free form."""
    lean = "import Mathlib\nset_option debug.skipKernelTC true\n\ntheorem p : True := by\n  trivial\n"
    args = ["--json", "--repl-cmd", fake_repl_cmd(), "--no-cache", "--no-sandbox"]
    if how == "file":
        f = tmp_path / "p.lean"
        f.write_text(lean, encoding="utf-8")
        r = bridge("verify", str(f), *args)
    elif how == "code row":
        r = bridge("verify", str(rows_file(tmp_path, [{"id": "p", "header": "import Mathlib", "code": lean}])), *args)
    else:
        r = subprocess.run([sys.executable, "-m", "bridge", "verify", "-", *args], input=lean, capture_output=True,
                           text=True, cwd=ROOT, env=dict(os.environ), timeout=120)
    got = json.loads(r.stdout.splitlines()[0])
    assert got["verdict"] == "rejected" and got["rule"] == "header", (r.stdout, r.stderr)
    assert "model's own header" in got["reason"]

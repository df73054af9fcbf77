"""Tool-integrated reasoning: NuminaMath's format (cut at ```output, the last python block, its output fed
back), and the sandbox its code runs in: code that loops forever, allocates 10 GB, opens a socket or
writes outside its tmpdir is stopped and reported, and the run goes on."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from bridge.informal.tir import (
    CodeLimits,
    CodeRunner,
    classify,
    cut_at_output,
    prepare_code,
    shorten_traceback,
    truncate,
)
from bridge.lean.sandbox import sandbox_available
from tests.test_solve_support import PlannedEndpoint, solve_args, tag, write_jsonl

needs_sandbox = pytest.mark.skipif(not sandbox_available()[0], reason=f"no sandbox here: {sandbox_available()[1]}")
LIMITS = CodeLimits(wall_s=10, cpu_s=3, memory_mb=1024, file_mb=1)


def test_generation_is_cut_at_its_first_output_block() -> None:
    gen = "Let us compute.\n```python\nx = 2\nprint(x)\n```\n```output\n7 (invented)\n```\nSo \\boxed{7}."
    kept, code = cut_at_output(gen)
    assert kept == "Let us compute.\n```python\nx = 2\nprint(x)\n```\n```output\n" and code == "\nx = 2\nprint(x)\n"
    assert cut_at_output("no code, \\boxed{1}") == ("no code, \\boxed{1}", None)
    assert cut_at_output("```output\n1\n```") == ("```output\n1\n```", None)  # no python block before it
    two = "```python\na=1\n```\nthen\n```python\nb=2\n```\n```output\n"
    assert cut_at_output(two)[1] == "\nb=2\n"  # the last block runs


def test_prepared_code_prints_its_last_expression() -> None:
    assert prepare_code("x = 3\nx * 2\n") == "x = 3\nprint(x * 2)\n"
    assert prepare_code("x = 3\nprint(x)") == "x = 3\nprint(x)\n"
    assert prepare_code("for i in range(2):\n    i") == "for i in range(2):\n    i\n"  # not a top-level expression
    assert prepare_code("def f(:") == "def f(:\n"  # python reports the syntax error itself


def test_traceback_is_shortened_to_the_models_code() -> None:
    err = ('Traceback (most recent call last):\n  File "/tmp/x/run.py", line 14, in <module>\n    exec(...)\n'
           '  File "code.py", line 2, in <module>\n    1/0\nZeroDivisionError: division by zero')
    assert shorten_traceback(err, "code.py") == ("Traceback (most recent call last):\n  line 2, in <module>\n"
                                                  "    1/0\nZeroDivisionError: division by zero")
    assert truncate("x" * 250, 200) == "x" * 200 + " ... (output truncated)"


@pytest.mark.parametrize("rc,timed_out,stderr,status", [
    (0, False, "", "ok"),
    (None, True, "", "timeout"),
    (152, False, "", "cpu-limit"),  # 128 + SIGXCPU, as bwrap reports it
    (-24, False, "", "cpu-limit"),
    (1, False, "Traceback...\nMemoryError", "memory-limit"),
    (1, False, "Traceback...\nOSError: [Errno 27] File too large", "output-limit"),
    (1, False, "bwrap: Can't mount proc", "sandbox"),
    (1, False, 'Traceback (most recent call last):\n  File "code.py", line 1, in <module>\nNameError: x', "error"),
])
def test_classify(rc: int | None, timed_out: bool, stderr: str, status: str) -> None:
    assert classify(rc, timed_out, "out", stderr, "code.py", LIMITS)[0] == status


@pytest.fixture
def listener():
    """A TCP server on the host's loopback: sandboxed code must not reach it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.2)
    got: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                got.append(srv.accept())
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], got
    stop.set()
    t.join()
    srv.close()


@needs_sandbox
def test_hostile_code_is_stopped_and_reported(tmp_path: Path, listener) -> None:
    port, connections = listener
    outside = tmp_path / "written-by-the-model"
    codes = {
        "loop": "while True:\n    pass",
        "sleep": "import time\ntime.sleep(600)",
        "alloc": "x = bytearray(10 * 1024**3)\nlen(x)",
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)",
        "write": f"open({str(outside)!r}, 'w').write('x')",
        "flood": "print('y' * (4 * 1024 * 1024))",
        "ok": "sp.Rational(1, 3) + 1",
    }
    runner = CodeRunner(LIMITS, workers=2)
    got = dict(zip(codes, runner.run_many(list(codes.values())), strict=True))
    assert got["loop"].status in ("cpu-limit", "timeout") and "stopped" in got["loop"].output
    assert got["sleep"].status == "timeout" and got["sleep"].seconds < LIMITS.wall_s + 5
    assert got["alloc"].status == "memory-limit" and got["alloc"].output.startswith("MemoryError")
    assert got["socket"].status == "error" and "Error" in got["socket"].output and not connections
    assert got["write"].status == "error" and not outside.exists()
    assert "Read-only file system" in got["write"].output or "No such file" in got["write"].output
    assert got["flood"].status == "output-limit"
    assert (got["ok"].status, got["ok"].output) == ("ok", "4/3")


def _tir_plan(prompt: str, i: int) -> str:
    """P1: sample 0 writes code that loops forever, sample 1 good code; each then reads its output."""
    if "```output" not in prompt:
        code = "while True:\n    pass" if i == 0 else "print(1 / 2)"
        return f"Compute it.\n```python\n{code}\n```\n```output\nINVENTED\n```\nso \\boxed{{7}}"
    if "TimeoutError" in prompt:
        return " The code failed; by hand, \\boxed{\\frac{1}{2}}."
    return " So \\boxed{0.5}." if "0.5" in prompt else " \\boxed{9}"


@needs_sandbox
def test_a_tir_run_goes_on_past_a_runaway_block(tmp_path: Path) -> None:
    from bridge.cli.solve import run

    data = write_jsonl(tmp_path / "p.jsonl", [{"id": "p1", "problem": "[P1] Half of one?", "answer": "\\frac12"}])
    with PlannedEndpoint(lambda prompt, i: _tir_plan(prompt, i) if tag(prompt) == "P1" else "") as ep:
        rc = run(solve_args(ep.url, data, tmp_path / "run", "--mode", "tir", "--template", "numina", "--tir-cpu", "3",
                            "--tir-timeout", "10", samples=2))
    assert rc == 0
    first, later = ep.asked[0], ep.asked[1:]
    assert first.n == 2 and first.prompt == "### Problem: [P1] Half of one?\n### Solution: "
    assert len(later) == 2 and all(a.n == 1 and "INVENTED" not in a.prompt for a in later)
    assert any("```output\n0.5\n```" in a.prompt for a in later)  # the real output went back
    from bridge.informal.store import SolveStore

    with SolveStore.open_solve(tmp_path / "run") as store:
        sols = {s.idx: s for s in store.solutions()}
    assert [e.status for e in sols[0].executions] in (["cpu-limit"], ["timeout"])
    assert [e.status for e in sols[1].executions] == ["ok"]
    assert sols[1].completion.endswith("```output\n0.5\n``` So \\boxed{0.5}.")
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["problems"][0]["c"] == 2 and report["tir"]["executions"] == 2
    assert report["response_profile_metrics"]["all"]["mean_code_blocks"] == 1.0

"""`bridge prove` options on the light install (an OpenAI-compatible stand-in server on loopback):
error-feedback rounds, --stop-on-first, and bands updated from a run."""

from __future__ import annotations

import http.server
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import ROOT, fake_repl_cmd


class _Server(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(_Server.delay)
        msgs = body.get("messages", [])
        corrected = len(msgs) > 1  # a correction prompt carries the failed answer and Lean's errors
        stmt = msgs[0]["content"].split("```lean4\n", 1)[1].split(":=", 1)[0] if msgs else ""
        proof = "  simp" if corrected or body["model"] == "solver" else "  exact FAKE_ERROR"
        text = f"Plan.\n```lean4\n{stmt.split(chr(10))[-1]}:= by\n{proof}\n```"
        choices = [{"index": i, "message": {"role": "assistant", "content": text}} for i in range(body["n"])]
        data = json.dumps({"choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a: object) -> None:
        pass


def serve():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_error_feedback_rounds_are_counted_separately(tmp_path: Path) -> None:
    server, url = serve()
    try:
        rd = tmp_path / "run"
        r = run("prove", "demo", "--limit", "2", "--samples", "2", "--rounds", "1", "--endpoint", url, "--model", "m",
                "--template", "goedel-v2", "--run-dir", str(rd), "--repl-cmd", fake_repl_cmd(), "--no-cache")
        assert r.returncode == 0, r.stderr
        rep = json.loads((rd / "report.json").read_text())
        assert rep["pass_at_k"]["1"] == 0.0 and rep["solved"] == 0  # round 0 only
        assert rep["rounds"]["1"]["samples"] == 4 and rep["rounds"]["1"]["proved"] == 4
        assert rep["rounds"]["1"]["problems_newly_solved"] == 2
        db = sqlite3.connect(rd / "run.sqlite")
        parents = db.execute("SELECT parent FROM samples WHERE round = 1").fetchall()
        assert len(parents) == 4 and all(p[0] and p[0].endswith(("/0/0", "/0/1")) for p in parents)
        prompt = json.loads(db.execute("SELECT prompt FROM samples WHERE round = 1 LIMIT 1").fetchone()[0])
        assert [m["role"] for m in prompt] == ["user", "assistant", "user"] and "FAKE_ERROR" in prompt[2]["content"]
        # bands from this run: nothing solved in round 0, so measured solve rate 0 -> advanced
        b = run("data", "bands", "demo", "--from-run", str(rd), "--json", "--cache-dir", str(tmp_path / "c"))
        assert b.returncode == 0, b.stderr
        bands = json.loads(b.stdout)
        assert bands["demo_add_zero"] == "advanced" and bands["demo_succ_le"] == "simple"  # untouched prior
    finally:
        server.shutdown()


def test_stop_on_first_and_bands_from_a_solving_run(tmp_path: Path) -> None:
    server, url = serve()
    _Server.delay = 0.3
    try:
        rd = tmp_path / "run"
        r = run("prove", "demo", "--limit", "2", "--samples", "16", "--stop-on-first", "--endpoint", url,
                "--model", "solver", "--template", "goedel-v2", "--run-dir", str(rd), "--repl-cmd", fake_repl_cmd(),
                "--no-cache")
        assert r.returncode == 0, r.stderr
    finally:
        _Server.delay = 0.0
        server.shutdown()
    db = sqlite3.connect(rd / "run.sqlite")
    per = dict(db.execute("SELECT problem_id, COUNT(*) FROM samples GROUP BY problem_id").fetchall())
    assert set(per) == {"demo_add_zero", "demo_two_add_two"} and all(n < 16 for n in per.values())
    b = run("data", "bands", "demo", "--from-run", str(rd), "--json", "--cache-dir", str(tmp_path / "c"))
    bands = json.loads(b.stdout)
    assert bands["demo_add_zero"] == "lean-formalized" and bands["demo_two_add_two"] == "lean-formalized"
    assert bands["demo_succ_le"] == "simple"
    table = run("data", "bands", "demo", "--cache-dir", str(tmp_path / "c"))  # the stored bands persist
    assert "lean-formalized" in table.stdout

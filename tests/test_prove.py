"""`bridge prove` end to end on the CPU: a tiny random model, the fake REPL, the run store, resume."""

from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge.eval.passk import pass_at_k
from tests.conftest import ROOT, fake_repl_cmd

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def prove(*args: str, env: dict[str, str] | None = None, wait: bool = True):
    e = dict(os.environ, **(env or {}))
    argv = [sys.executable, "-m", "bridge", "prove", *args]
    if not wait:
        return subprocess.Popen(argv, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, cwd=ROOT, env=e, capture_output=True, text=True, timeout=600)


def verdict_rows(run_dir: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return db.execute("SELECT sample_id, verdict FROM verdicts").fetchall()
    finally:
        db.close()


def test_end_to_end_report_matches_verdicts(tiny_model: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    r = prove("demo", "--limit", "3", "--samples", "4", "--model", str(tiny_model), "--template", "deepseek-v1.5",
              "--max-tokens", "24", "--run-dir", str(run_dir), "--repl-cmd", fake_repl_cmd(), "--no-cache",
              "--workers", "2", "--seed", "1")
    assert r.returncode == 0, r.stderr
    report = json.loads((run_dir / "report.json").read_text())
    assert (run_dir / "report.md").is_file() and (run_dir / "passk.png").stat().st_size > 1000
    assert [p["id"] for p in report["problems"]] == ["demo_add_zero", "demo_two_add_two", "demo_succ_le"]
    rows = verdict_rows(run_dir)
    assert len(rows) == 12 and len({s for s, _ in rows}) == 12
    by_problem: dict[str, list[str]] = {}
    for sid, v in rows:
        by_problem.setdefault(sid.rsplit("/", 2)[0], []).append(v)
    for p in report["problems"]:
        vs = by_problem[p["id"]]
        assert p["n"] == len(vs) == 4 and p["c"] == vs.count("proved") and p["solved"] == (p["c"] > 0)
    for k in ("1", "4"):
        want = sum(pass_at_k(4, vs.count("proved"), int(k)) for vs in by_problem.values()) / 3
        assert report["pass_at_k"][k] == pytest.approx(want)
    assert report["model"] == str(tiny_model) and report["template"] == "deepseek-v1.5"
    assert report["sampling"]["max_tokens"] == 24 and report["lean_version"]
    db = sqlite3.connect(run_dir / "run.sqlite")
    sampling = json.loads(db.execute("SELECT sampling FROM samples LIMIT 1").fetchone()[0])
    assert {"temperature", "top_p", "max_tokens", "seed"} <= set(sampling)
    # bridge report rewrites the same report from the store
    rr = subprocess.run([sys.executable, "-m", "bridge", "report", str(run_dir)], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
    assert rr.returncode == 0 and json.loads((run_dir / "report.json").read_text())["pass_at_k"] == report["pass_at_k"]


def test_killed_run_resumes_with_one_verdict_per_sample(tiny_model: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ["demo", "--limit", "3", "--samples", "4", "--model", str(tiny_model), "--template", "deepseek-v1.5",
            "--max-tokens", "8", "--run-dir", str(run_dir), "--no-cache", "--workers", "1"]
    slow = fake_repl_cmd(FAKE_REPL_BURN="0.4")
    p = prove(*args, "--repl-cmd", slow, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline:
        if (run_dir / "run.sqlite").is_file():
            try:
                if len(verdict_rows(run_dir)) >= 3:
                    break
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = verdict_rows(run_dir)
    assert 3 <= len(before) < 12
    r = prove(*args, "--repl-cmd", fake_repl_cmd())
    assert r.returncode == 0, r.stderr
    after = verdict_rows(run_dir)
    assert len(after) == 12 and len({s for s, _ in after}) == 12
    assert set(before) <= set(after)  # nothing done before the kill was redone or lost
    db = sqlite3.connect(run_dir / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 12


def test_resume_refuses_other_settings(tiny_model: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    base = ["demo", "--limit", "1", "--samples", "2", "--model", str(tiny_model), "--template", "deepseek-v1.5",
            "--max-tokens", "4", "--run-dir", str(run_dir), "--repl-cmd", fake_repl_cmd(), "--no-cache"]
    assert prove(*base).returncode == 0
    r = prove(*base, "--temperature", "0.5")
    assert r.returncode != 0 and "was made with" in r.stderr


class _Completions(http.server.BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Completions.seen.append({"path": self.path, **body})
        n = body["n"]
        if self.path.endswith("/chat/completions"):
            choices = [{"index": i, "message": {"role": "assistant", "content":
                        f"Plan.\n```lean4\ntheorem demo_add_zero (n : Nat) : n + 0 = n := by\n  simp -- {i}\n```"}}
                       for i in range(n)]
        else:
            choices = [{"index": i, "text": f"  simp -- {i}\n```"} for i in range(n)]
        data = json.dumps({"choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a: object) -> None:
        pass


@pytest.mark.parametrize("template", ["deepseek-v1.5", "goedel-v2"])
def test_endpoint_path_needs_no_torch(tmp_path: Path, template: str) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Completions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        run_dir = tmp_path / "run"
        code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
                "from bridge.cli.main import main; sys.exit(main(sys.argv[1:]))")
        r = subprocess.run([sys.executable, "-c", code, "prove", "demo", "--limit", "1", "--samples", "3",
                            "--endpoint", url, "--model", "served-model", "--template", template,
                            "--run-dir", str(run_dir), "--repl-cmd", fake_repl_cmd(), "--no-cache"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        report = json.loads((run_dir / "report.json").read_text())
        assert report["problems"][0]["c"] == 3 and report["pass_at_k"]["1"] == 1.0
        req = _Completions.seen[-1]
        assert req["model"] == "served-model" and req["n"] == 3 and req["temperature"] == 1.0
        assert req["path"] == ("/v1/completions" if template == "deepseek-v1.5" else "/v1/chat/completions")
    finally:
        server.shutdown()

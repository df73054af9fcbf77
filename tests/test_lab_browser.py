"""`bridge lab` in a real headless browser: Debian's Chromium (/usr/bin/chromium, never a downloaded one)
driven by Playwright. The page loads a run made by `bridge demo`, a filter narrows the list, a problem
shows its proofs with Lean's messages, the try-it tab streams verdicts; screenshots are saved
(LAB_SCREENSHOT_DIR, else the test's tmp directory). tests/test_lab.py checks the band filter on a run
with bands (the demo's problems have none)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, fake_repl_cmd
from tests.fakes.fake_model_server import FakeModelServer
from tests.lab_support import try_respond

CHROMIUM = os.environ.get("BRIDGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no Chromium (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"bridge lab exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"bridge lab did not answer at {url}")


def test_lab_in_a_headless_browser(tmp_path: Path) -> None:
    pytest.importorskip("gradio", reason='the lab extra is not installed (pip install -e ".[lab]")')
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    shots = Path(os.environ.get("LAB_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    rd = tmp_path / "demo"
    made = subprocess.run([sys.executable, "-m", "bridge", "demo", "--run-dir", str(rd)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    port = free_port()
    with FakeModelServer(try_respond) as srv:
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "lab", str(rd), "--port", str(port), "--endpoint", srv.url,
             "--template", "deepseek-v1.5", "--formalizer", "goedel-formalizer", "--max-tokens", "64",
             "--work-dir", str(tmp_path / "lab"), "--repl-cmd", fake_repl_cmd(), "--workers", "1", "--no-cache"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/", proc)
            with sync_api.sync_playwright() as pw:
                ctx = pw.chromium.launch_persistent_context(
                    str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=FLAGS)
                try:
                    page = ctx.new_page()
                    page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
                    # the run loads: every problem listed, the stand-in said so
                    page.get_by_text("6 of 6 problems").wait_for(timeout=60_000)
                    table = page.locator("#problems")
                    assert "demo_mul_comm" in table.inner_text() and "demo_add_zero" in table.inner_text()
                    summary = page.locator("#run-summary").inner_text()
                    assert "pass@1 29.2%" in summary and "stand-in verdicts" in summary
                    # a filter narrows the list
                    page.locator("#filter-verdict").get_by_label("unsolved").check()
                    page.get_by_text("3 of 6 problems").wait_for(timeout=30_000)
                    page.locator("#filter-verdict").get_by_label("failed").check()
                    page.get_by_text("2 of 6 problems").wait_for(timeout=30_000)
                    listed = table.inner_text()
                    assert "demo_mul_comm" in listed and "demo_two_add_two" in listed and "demo_add_zero" not in listed
                    # a proof shows its messages
                    page.locator("#problem-choice input").click()
                    page.get_by_role("option", name="demo_mul_comm").click()
                    detail = page.locator("#problem-detail")
                    detail.get_by_text("Lean's messages").first.wait_for(timeout=30_000)
                    text = detail.inner_text()
                    assert "2:2 error: Unknown identifier `FAKE_ERROR`" in text and "unsolved goals" in text
                    assert page.locator("#passk-plot img").count() == 1
                    page.screenshot(path=str(shots / "lab_run.png"), full_page=True)
                    # try it: an informal statement -> the formalizer -> verdicts as they come
                    page.get_by_role("tab", name="Try it").click()
                    page.locator("#try-input textarea").fill("Adding zero to a natural number changes nothing.")
                    page.locator("#try-go").click()
                    page.get_by_text("4 verdict(s), 2 proved; done").wait_for(timeout=120_000)
                    assert "theorem even_sum" in page.locator("#try-statement").inner_text()
                    assert page.locator("#try-verdicts").inner_text().count("proved") >= 2
                    page.screenshot(path=str(shots / "lab_try.png"), full_page=True)
                finally:
                    ctx.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert (shots / "lab_run.png").stat().st_size > 10_000 and (shots / "lab_try.png").stat().st_size > 10_000

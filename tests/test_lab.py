"""`bridge lab`'s data side, without a browser (tests/test_lab_browser.py drives the page): a run made by
`bridge prove` seen through the filters by verdict, split and band, a problem's samples with Lean's
messages, the pass@k table; the try-it flow (formalize -> prove -> verdicts as they come) against a
stand-in model server and the stand-in REPL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.lab.try_it import TrySettings, TryState, fold, formal_problem, is_formal, try_statement
from bridge.lab.view import RunView
from tests.conftest import fake_repl_cmd
from tests.fakes.fake_model_server import FakeModelServer
from tests.lab_support import PROBLEMS, make_lab_run, try_respond


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lab_run(tmp_path_factory.mktemp("lab"))


def test_filters_narrow_the_problems(run: Path) -> None:
    v = RunView.load(run)
    assert [r[0] for r in v.rows()] == PROBLEMS
    assert v.verdict_choices() == ["all", "solved", "unsolved", "failed", "incomplete", "proved"]
    assert v.split_choices() == ["all", "test"]
    assert v.band_choices() == ["all", "advanced", "intermediate", "simple"]
    assert [r[0] for r in v.rows(verdict="unsolved")] == ["demo_two_add_two"]
    assert [r[0] for r in v.rows(verdict="incomplete")] == [p for p in PROBLEMS if p != "demo_two_add_two"]
    assert [r[0] for r in v.rows(band="intermediate")] == ["demo_two_add_two", "demo_linear"]
    assert [r[0] for r in v.rows(verdict="solved", band="intermediate")] == ["demo_linear"]
    assert v.rows(split="valid") == []
    row = v.rows(verdict="unsolved")[0]
    assert row[1:] == ["test", "intermediate", "unsolved", "0/4", "failed 4"]
    assert v.rows()[0][3:5] == ["solved", "2/4"]
    assert "5 problems x 4 samples" in v.summary() and "pass@1 40.0%" in v.summary()
    assert "| 4 | 80.0 % |" in v.passk_table() and v.plot is not None


def test_a_problem_shows_each_proof_with_leans_messages(run: Path) -> None:
    v = RunView.load(run)
    text = v.problem_text("demo_two_add_two")
    assert text.count("#### sample demo_two_add_two/0/") == 4
    assert "exact FAKE_ERROR" in text and "2:2 error: Unknown identifier `FAKE_ERROR`" in text
    ok = v.problem_text("demo_add_zero")
    assert "**proved** (gate full)" in ok and "(no messages)" in ok and "unsolved goals" in ok
    assert v.problem_text("nope") == "Choose a problem."


def settings(url: str, work: Path, **kw: object) -> TrySettings:
    cfg = load_config(None, overrides={"repl_cmd": fake_repl_cmd(), "workers": 1, "use_cache": False})
    return TrySettings(model="m", config=cfg, work_dir=work, endpoint=url, template="deepseek-v1.5",
                       formalizer="goedel-formalizer", samples=4, max_tokens=64, **kw)  # type: ignore[arg-type]


def test_try_it_formalizes_then_proves_and_streams_verdicts(tmp_path: Path) -> None:
    with FakeModelServer(try_respond) as srv:
        events = list(try_statement("Adding zero to a natural number changes nothing.", settings(srv.url, tmp_path)))
        chat = [r for r in srv.requests if r.path.endswith("/chat/completions")]
        assert len(chat) == 1 and "Adding zero" in chat[0].prompt  # one formalization, by the formalizer
    kinds = [e.kind for e in events]
    assert kinds[0] == "status" and kinds[1] == "statement" and kinds[-1] == "done", events
    assert "theorem even_sum (n : Nat) : n + 0 = n := by" in events[1].text
    verdicts = [e.verdict for e in events if e.kind == "verdict"]
    assert len(verdicts) == 4 and sorted(v["verdict"] for v in verdicts) == ["failed", "failed", "proved", "proved"]
    state = TryState()
    for e in events:
        state = fold(state, e)
    assert len(state.table) == 4 and state.status.startswith("4 verdict(s), 2 proved; done")
    assert any("FAKE_ERROR" in r[3] for r in state.table)
    assert len(list(tmp_path.glob("try-*/run.sqlite"))) == 1  # the try is a run directory of its own


def test_try_it_takes_a_formal_statement_as_written(tmp_path: Path) -> None:
    stmt = "import Init\ntheorem mine (a : Nat) : a = a := by\n  rfl"
    assert is_formal(stmt) and not is_formal("Two plus two is four.")
    p = formal_problem(stmt, "x")
    assert p.header == "import Init\n" and p.formal_statement == "theorem mine (a : Nat) : a = a := by\n"
    with FakeModelServer(try_respond) as srv:
        events = list(try_statement(stmt, settings(srv.url, tmp_path)))
        assert not [r for r in srv.requests if r.path.endswith("/chat/completions")]  # nothing to formalize
    assert [e.kind for e in events].count("verdict") == 4 and events[-1].kind == "done"
    bad = list(try_statement("", settings("http://127.0.0.1:9/v1", tmp_path)))
    assert [e.kind for e in bad] == ["error"]
    down = list(try_statement(stmt, dataclasses.replace(settings("http://127.0.0.1:9/v1", tmp_path))))
    assert down[-1].kind == "error" and "Traceback" not in down[-1].text


def test_lab_refuses_a_directory_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("gradio")
    from bridge.cli.main import main

    assert main(["lab", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err

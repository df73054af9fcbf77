"""Every run-directory fault of prove, report, export, iterate, solve and formalize is one line (the path,
what is wrong, the next step) and exit 5 (docs/errors.md), never a traceback; a run that stored nothing
does not lock its settings."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.demo import PROBLEMS
from bridge.runs.store import RunStore
from tests.conftest import fake_repl_cmd

DOWN = "http://127.0.0.1:9/v1"  # nothing listens there: the model server is down
FAULTS = ("file", "readonly", "corrupt", "foreign")


def make_fault(kind: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp / f"run-{kind}"
    if kind == "file":
        d.write_text("not a directory\n")
        return d
    d.mkdir()
    if kind == "readonly":
        RunStore(d).close()  # a run directory that was made, then made read-only
        d.chmod(0o555)
        if os.geteuid() == 0:  # root writes anyway: deny it the way a read-only directory would
            real = os.access
            monkeypatch.setattr("bridge.runs.store.os.access",
                                lambda p, mode, **k: False if Path(p) == d and mode & os.W_OK else real(p, mode, **k))
    elif kind == "corrupt":
        (d / "run.sqlite").write_bytes(b"this is not an SQLite database\n" * 200)
    elif kind == "foreign":
        db = sqlite3.connect(d / "run.sqlite")  # a result cache where a run store should be
        db.execute("CREATE TABLE verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL, created REAL)")
        db.commit()
        db.close()
    return d


def informal(tmp: Path) -> Path:
    p = tmp / "informal.jsonl"
    p.write_text(json.dumps({"id": "p1", "problem": "Show that 1 + 1 = 2.", "answer": "2"}) + "\n", encoding="utf-8")
    return p


def argv_for(cmd: str, d: Path, tmp: Path) -> list[str]:
    repl = ["--repl-cmd", fake_repl_cmd(), "--no-sandbox", "--no-cache", "--workers", "1"]
    if cmd == "prove":
        return ["prove", str(PROBLEMS), "--samples", "1", "--model", "m", "--endpoint", DOWN, "--run-dir", str(d), *repl]
    if cmd == "report":
        return ["report", str(d)]
    if cmd == "export":
        return ["export", str(d), "--proved"]
    if cmd == "iterate":
        return ["iterate", str(PROBLEMS), "--model", "m", "--endpoint", DOWN, "--run-dir", str(d), "--decontam", "none",
                *repl]
    if cmd == "solve":
        return ["solve", str(informal(tmp)), "--model", "m", "--endpoint", DOWN, "--run-dir", str(d)]
    if cmd == "formalize":
        ev = tmp / "eval.jsonl"
        ev.write_text(json.dumps({"name": "e", "split": "test", "formal_statement": "theorem e : True := by\n"}) + "\n")
        return ["formalize", str(informal(tmp)), "--model", "m", "--endpoint", DOWN, "--run-dir", str(d),
                "--decontam", str(ev), *repl]
    raise AssertionError(cmd)


def one_line_error(capsys: pytest.CaptureFixture[str], rc: int, path: Path) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("bridge: error:")]
    assert rc == 5, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0] and "next step:" in lines[0], lines[0]
    return lines[0]


CASES = [(cmd, kind) for cmd in ("prove", "report", "export", "solve", "formalize") for kind in FAULTS]
CASES += [("iterate", "file"), ("iterate", "readonly")]  # iterate's own directory holds no run.sqlite


@pytest.mark.parametrize(("cmd", "kind"), CASES)
def test_run_dir_fault_is_one_line(cmd: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    if cmd == "iterate":
        pytest.importorskip("trl")
    d = make_fault(kind, tmp_path, monkeypatch)
    before = d.read_bytes() if d.is_file() else (d / "run.sqlite").read_bytes() if (d / "run.sqlite").exists() else None
    line = one_line_error(capsys, main(argv_for(cmd, d, tmp_path)), d)
    want = {"file": "not a directory", "readonly": "not writable", "corrupt": "corrupt",
            "foreign": "not a bridge run store"}[kind]
    if kind == "file" and cmd in ("report", "export"):
        want = "not a run directory"
    assert want in line
    after = d.read_bytes() if d.is_file() else (d / "run.sqlite").read_bytes() if (d / "run.sqlite").exists() else None
    assert after == before  # nothing of what was there is changed


def test_report_out_naming_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for name in ("a", "b"):
        RunStore(tmp_path / name).close()
        runs.append(str(tmp_path / name))
    out = tmp_path / "out.md"
    out.write_text("mine\n")
    line = one_line_error(capsys, main(["report", *runs, "--out", str(out)]), out)
    assert "--out" in line and out.read_text() == "mine\n"


def test_export_output_naming_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    RunStore(tmp_path / "a").close()
    one_line_error(capsys, main(["export", str(tmp_path / "a"), "--proved", "-o", str(tmp_path)]), tmp_path)


def test_formalize_output_naming_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = argv_for("formalize", tmp_path / "run", tmp_path) + ["-o", str(tmp_path)]
    one_line_error(capsys, main(argv), tmp_path)


def test_a_run_that_stored_nothing_locks_no_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "run"
    first = main(argv_for("prove", d, tmp_path))  # the model server is down: nothing is stored
    assert first != 0
    with RunStore(d) as store:
        assert store.stored_nothing() and store.meta().get("model") == "m"
    capsys.readouterr()
    argv = argv_for("prove", d, tmp_path)
    argv[argv.index("--model") + 1] = "the-right-model"
    second = main(argv)
    err = capsys.readouterr().err
    assert second != 0 and "made with model" not in err, err
    # once something is stored the settings are fixed
    with RunStore(d) as store:
        store.db.execute("INSERT INTO samples VALUES ('x/0/0', 'x', 0, 0, NULL, '', '', '', '', '{}', 0)")
        with pytest.raises(Exception, match="made with model"):
            store.check_meta({"model": "other"}, fixed=("model",))


def test_a_solve_run_that_stored_nothing_locks_no_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "run"
    assert main(argv_for("solve", d, tmp_path)) != 0  # the model server is down: no solution is stored
    capsys.readouterr()
    argv = argv_for("solve", d, tmp_path)
    argv[argv.index("--model") + 1] = "the-right-model"
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "made with model" not in err, err  # its informal_problems rows are input, not work done

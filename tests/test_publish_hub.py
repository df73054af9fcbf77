"""`--push-to-hub`: a stand-in Hub on 127.0.0.1 (tests/fakes/fake_hub.py, HF_ENDPOINT) receives the adapter,
card and training summary of a tiny `bridge train sft` run, private unless --public; `merge`, `card`,
`iterate --push-every-round` and `export` (a dataset repository) push what they made; the token is sent
but never printed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bridge.cli.main import main
from tests.fakes.fake_hub import FakeHub
from tests.test_train_support import build_word_model

TOKEN = "hf_standin_secret_0123456789"


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    h = FakeHub(token=TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", h.start())
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no stored token of this machine's user
    yield h
    h.stop()


@pytest.fixture(scope="module")
def sft_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("trl")
    tmp = tmp_path_factory.mktemp("hubsft")
    model = build_word_model(tmp / "model")
    data = tmp / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"theorem t{i} := by\n", "completion": "  simp\n```"}) + "\n"
                            for i in range(2)))
    out = tmp / "out"
    assert main(["train", "sft", str(data), "--model", str(model), "--out", str(out), "--template", "deepseek-v1.5",
                 "--max-steps", "2", "--logging-steps", "1", "--lora-r", "2", "--device", "cpu",
                 "--max-length", "64"]) == 0
    return out


def test_train_sft_pushes_adapter_card_and_summary(hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                   sft_out: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(sft_out, out)
    (out / "checkpoint-1").mkdir()  # trainer state stays home
    (out / "checkpoint-1" / "optimizer.pt").write_bytes(b"x")
    assert main(["card", str(out), "--push-to-hub", "me/tiny-prover-lora"]) == 0
    repo = hub.repo("me/tiny-prover-lora")
    assert repo.repo_type == "model" and repo.visibility == "private"
    # peft's own adapter/README.md gives way to bridge's card
    local = {p.name: p.read_bytes() for p in (out / "adapter").iterdir() if p.is_file() and p.name != "README.md"}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(local)
    assert set(repo.files) == set(local) | {"README.md", "training_summary.json"}
    assert all(repo.files[k] == v for k, v in local.items())  # byte for byte
    assert repo.files["training_summary.json"] == (out / "training_summary.json").read_bytes()
    assert repo.files["README.md"] == (out / "README.md").read_bytes()
    card = repo.files["README.md"].decode()
    assert card.startswith("---\nbase_model:") and "library_name: peft" in card
    s = json.loads(repo.files["training_summary.json"])
    assert s["model"]["parameter_counts"]["trainable"] > 0
    err = capsys.readouterr().err
    assert "pushed" in err and "private" in err and TOKEN not in err
    assert all(auth == f"Bearer {TOKEN}" for _, auth in hub.requests) and not hub.unknown


def test_train_sft_push_flag_end_to_end(hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("trl")
    model = build_word_model(tmp_path / "model")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "theorem t := by\n", "completion": "  simp\n```"}) + "\n")
    out = tmp_path / "out"
    assert main(["train", "sft", str(data), "--model", str(model), "--out", str(out), "--template", "deepseek-v1.5",
                 "--max-steps", "1", "--lora-r", "2", "--device", "cpu", "--max-length", "64",
                 "--push-to-hub", "me/pub", "--public"]) == 0
    repo = hub.repo("me/pub")
    assert repo.visibility == "public"
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "training_summary.json"} <= set(repo.files)
    assert (out / "README.md").read_bytes() == repo.files["README.md"]
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_no_token_fails_before_training(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_home"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    code = main(["train", "sft", str(data), "--model", str(tmp_path / "nomodel"), "--out", str(tmp_path / "o"),
                 "--push-to-hub", "me/x"])
    assert code == 3 and "no Hugging Face token" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["card", str(tmp_path), "--push-to-hub", "not a repo!"]) == 2


def test_a_refused_push_never_prints_the_token(hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture, sft_out: Path) -> None:
    wrong = "hf_wrong_token_abcdef"
    monkeypatch.setenv("HF_TOKEN", wrong)
    assert main(["card", str(sft_out), "--out", str(tmp_path / "c.md"), "--push-to-hub", "me/x"]) == 3
    err = capsys.readouterr().err
    assert "401" in err and wrong not in err and TOKEN not in err and "next step" in err


def test_iterate_pushes_every_round_once_and_the_final_adapter(hub: FakeHub, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, sft_out: Path) -> None:
    """The round hook of --push-every-round, with the rounds' work stood in for by copying a trained adapter
    (tests/test_iterate.py runs real rounds)."""
    import argparse

    from bridge.cli import publish
    from bridge.train import iterate

    run = tmp_path / "run"

    def fake_round(self, k: int, init: Path | None) -> int | None:
        rd = run / f"round-{k}"
        shutil.copytree(sft_out / "adapter", rd / "adapter")
        shutil.copy(sft_out / "training_summary.json", rd / "training_summary.json")
        (rd / "round.json").write_text(json.dumps({"round": k, "statements_in_pool": 1, "solved_so_far": 1,
                                                   "pool_total": 1, "heldout": None, "strict": True}))
        return None

    def fake_run(self) -> int:
        for k in (1, 2):
            if not (run / f"round-{k}" / "round.json").is_file():
                self.run_round(k, None)
        return 0

    monkeypatch.setattr(iterate.Iteration, "__init__", lambda self, c, b, log: setattr(self, "dir", run))
    monkeypatch.setattr(iterate.Iteration, "run_round", fake_round)
    monkeypatch.setattr(iterate.Iteration, "run", fake_run)
    args = argparse.Namespace(push_to_hub="me/iter", public=False, push_every_round=True)
    assert publish.iteration(None, None, print, args).run() == 0
    repo = hub.repo("me/iter")
    assert [c["summary"] for c in repo.commits] == ["bridge iterate: round-1", "bridge iterate: round-2"]
    assert {"round-1/adapter_model.safetensors", "round-2/adapter_config.json",
            "round-2/training_summary.json"} <= set(repo.files)
    assert publish.iteration(None, None, print, args).run() == 0  # a rerun: nothing pushed twice
    assert len(repo.commits) == 2
    publish.push_run(run, args)  # what `bridge iterate --push-to-hub` does after the last round
    assert {"adapter_model.safetensors", "README.md", "training_summary.json"} <= set(repo.files)
    assert "(2 rounds of expert iteration)" in repo.files["README.md"].decode()
    p = iterate_parser_args(["--push-to-hub", "me/iter", "--push-every-round"])
    assert p.push_to_hub == "me/iter" and p.push_every_round and not p.public


def iterate_parser_args(extra: list[str]):
    from bridge.cli.main import build_parser

    return build_parser().parse_args(["iterate", "pool.jsonl", *extra])


def test_merge_pushes_the_merged_model_with_card_and_summary(hub: FakeHub, tmp_path: Path, sft_out: Path) -> None:
    merged = tmp_path / "merged"
    assert main(["merge", str(sft_out / "adapter"), "--out", str(merged), "--push-to-hub", "org/merged"]) == 0
    repo = hub.repo("org/merged")
    assert repo.visibility == "private"
    assert {"config.json", "model.safetensors", "tokenizer.json", "bridge_merge.json", "README.md",
            "training_summary.json"} <= set(repo.files)
    assert repo.files["model.safetensors"] == (merged / "model.safetensors").read_bytes()
    assert "library_name: transformers" in repo.files["README.md"].decode()


def test_export_pushes_a_dataset_of_verified_proofs(hub: FakeHub, tmp_path: Path) -> None:
    from tests.test_report import FAST, OK, fail, make_run

    rd = make_run(tmp_path / "run", {("a", "test", "simple"): [OK, fail(2), OK], ("b", "valid", "simple"): [FAST]},
                  samples=3, served_model="served/model")
    assert main(["export", str(rd), "--proved", "-o", str(tmp_path / "p.jsonl"), "--push-to-hub", "me/proofs"]) == 0
    repo = hub.repo("me/proofs", "dataset")
    assert repo.repo_type == "dataset" and repo.visibility == "private"
    assert set(repo.files) == {"README.md", "data/proofs.jsonl"}
    assert repo.files["data/proofs.jsonl"] == (tmp_path / "p.jsonl").read_bytes()
    rows = [json.loads(x) for x in repo.files["data/proofs.jsonl"].decode().splitlines()]
    assert [r["sample_id"] for r in rows] == ["a/0/0", "a/0/2"] and all(r["verdict"] == "proved" for r in rows)
    card = repo.files["README.md"].decode()
    assert "path: data/proofs.jsonl" in card and "2 verified proofs" in card
    assert not list(rd.glob(".hub-*"))  # the staging folders are gone

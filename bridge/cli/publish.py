"""``--push-to-hub REPO`` / ``--public`` / ``--push-every-round``: the flags, and what each subcommand
pushes (bridge.publish.hub does the upload)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.cli.common import eprint

PUSHES = "hub_pushes.json"  # iterate --push-every-round: the rounds already pushed (a rerun pushes the rest)


def add_push_flags(p: argparse.ArgumentParser, what: str, every_round: bool = False) -> None:
    g = p.add_argument_group("Hugging Face Hub (the token: HF_TOKEN or the one `hf auth login` stored; "
                             "HF_ENDPOINT: another Hub server)")
    g.add_argument("--push-to-hub", metavar="REPO", help=f"upload {what} to the Hub repository REPO (OWNER/NAME), "
                   "created private unless --public")
    g.add_argument("--public", action="store_true", help="create the repository public (default private; an "
                   "existing repository keeps its visibility)")
    if every_round:
        g.add_argument("--push-every-round", action="store_true",
                       help="also push each round's adapter, as it is trained, to round-K/ in the repository")


def preflight(args: argparse.Namespace) -> None:
    if getattr(args, "push_to_hub", None):
        from bridge.publish.hub import preflight as check

        check(args.push_to_hub)


def _report(res: Any) -> None:
    eprint(f"pushed {len(res.files)} file(s) to {res.url} ({res.repo_type}, "
           f"{'private' if res.private else 'public'}; commit {res.commit})")


def push_run(run_dir: Path, args: argparse.Namespace, card: Path | None = None) -> dict[str, Any]:
    """A train sft output or an iterate run, with a freshly rendered card (``card``: one already written)."""
    from bridge.publish.hub import PushRequest, check_repo_id, push, run_layout
    from bridge.train.card import CardConfig, write_card

    check_repo_id(args.push_to_hub)
    card = card or write_card(CardConfig(Path(run_dir)))
    files = run_layout(Path(run_dir))
    files["README.md"] = card
    res = push(PushRequest(args.push_to_hub, files, private=not args.public,
                           commit_message=f"bridge: {Path(run_dir).name}"), Path(run_dir))
    _report(res)
    return res.to_json()


def push_round(run_dir: Path, rd: Path, args: argparse.Namespace) -> None:
    """One iterate round's adapter (and its training summary) to round-K/ of the repository; recorded in
    RUN_DIR/hub_pushes.json so that a rerun does not push it again."""
    from bridge.publish.hub import PushRequest, adapter_layout, push

    record = Path(run_dir) / PUSHES
    done = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
    key = f"{args.push_to_hub}:{rd.name}"
    if key in done:
        return
    res = push(PushRequest(args.push_to_hub, adapter_layout(rd), private=not args.public, path_in_repo=rd.name,
                           commit_message=f"bridge iterate: {rd.name}"), Path(run_dir))
    _report(res)
    done[key] = res.commit
    record.write_text(json.dumps(done, indent=2) + "\n", encoding="utf-8")


def iteration(cfg: Any, bcfg: Any, log: Callable[[str], None], args: argparse.Namespace) -> Any:
    """``Iteration``, or with --push-every-round one that pushes each round's adapter once it is trained."""
    from bridge.train.iterate import Iteration

    if not (args.push_to_hub and args.push_every_round):
        return Iteration(cfg, bcfg, log)
    from bridge.publish.hub import check_repo_id, round_dirs

    check_repo_id(args.push_to_hub)

    class PushingIteration(Iteration):
        def run_round(self, k: int, init: Path | None) -> int | None:
            code = super().run_round(k, init)
            if code is None and (self.dir / f"round-{k}" / "adapter" / "adapter_config.json").is_file():
                push_round(self.dir, self.dir / f"round-{k}", args)
            return code

        def run(self) -> int:
            code = super().run()
            for rd in round_dirs(self.dir):  # rounds a stopped run trained before its push
                if (rd / "round.json").is_file():
                    push_round(self.dir, rd, args)
            return code

    return PushingIteration(cfg, bcfg, log)


def push_merged(out: Path, info: dict[str, Any], adapter: Path, args: argparse.Namespace,
                gguf: Path | None = None) -> dict[str, Any]:
    """The merged model directory with a README card, the adapter's training summary and the GGUF file."""
    from bridge.publish.hub import SUMMARY, PushRequest, merged_card, merged_layout, push

    files = merged_layout(out, gguf)
    summary = Path(adapter).parent / SUMMARY
    if summary.is_file():
        files[SUMMARY] = summary
    readme = out / "README.md"
    readme.write_text(merged_card({**info, "training_summary": summary.is_file()}, args.push_to_hub,
                                  gguf.name if gguf else None), encoding="utf-8")
    files["README.md"] = readme
    res = push(PushRequest(args.push_to_hub, files, private=not args.public,
                           commit_message="bridge merge"), out)
    _report(res)
    return res.to_json()


def push_dataset(rows: list[dict[str, Any]], meta: dict[str, Any], run_dir: Path, args: argparse.Namespace,
                 proved_only: bool) -> dict[str, Any]:
    """A dataset repository: the exported rows as data/proofs.jsonl (data/samples.jsonl with --all) and
    a card whose YAML tells `datasets` where the split is."""
    import tempfile

    from bridge.publish.hub import PushRequest, check_repo_id, dataset_card, push

    check_repo_id(args.push_to_hub)
    name = "data/proofs.jsonl" if proved_only else "data/samples.jsonl"
    with tempfile.TemporaryDirectory(prefix=".hub-export-", dir=run_dir) as tmp:
        data, card = Path(tmp) / "rows.jsonl", Path(tmp) / "README.md"
        data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        card.write_text(dataset_card(args.push_to_hub, name, len(rows), meta, proved_only), encoding="utf-8")
        res = push(PushRequest(args.push_to_hub, {name: data, "README.md": card}, repo_type="dataset",
                               private=not args.public, commit_message="bridge export"), Path(tmp))
    _report(res)
    return res.to_json()

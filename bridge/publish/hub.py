"""``--push-to-hub REPO``: a folder (an adapter, a merged model, a dataset of verified proofs) with its README
card and training summary, uploaded through ``huggingface_hub`` (``HfApi.create_repo`` + ``upload_folder``).

The token comes from huggingface_hub's own lookup (``HF_TOKEN``, then the token ``hf auth login`` stored);
it is never printed: an error from the Hub is shown with the token masked out. ``HF_ENDPOINT`` points the
client at another server (the tests' stand-in Hub on 127.0.0.1). What goes where is decided by pure
functions (``*_layout``: repo path -> local file); the upload stages those files as hard links (copies
where linking fails) in a temporary folder next to the source and uploads that folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError, InputError, SetupError

REPO_TYPES = ("model", "dataset")
SUMMARY = "training_summary.json"
# what stays home: trainer checkpoints (optimizer state, large), partial writes
SKIP_PARTS = ("checkpoint-", ".partial", ".hub-staging")


class HubError(BridgeError):
    """The Hub refused or could not be reached."""

    exit_code = 3


@dataclass(frozen=True)
class PushRequest:
    repo_id: str
    files: dict[str, Path]  # repo path -> local file
    repo_type: str = "model"
    private: bool = True
    commit_message: str = "Upload with bridge"
    path_in_repo: str = ""  # a subfolder of the repo (iterate's round-K/)


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    repo_type: str
    private: bool
    url: str
    commit: str | None
    files: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "repo_type": self.repo_type, "private": self.private, "url": self.url,
                "commit": self.commit, "files": self.files}


def check_repo_id(repo_id: str) -> str:
    """``NAME`` or ``OWNER/NAME`` (the Hub's rule: letters, digits, ``-_.``); one clear line otherwise."""
    import re

    if not re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,95}", repo_id or "") \
            or ".." in repo_id or repo_id.endswith(".git"):
        raise InputError(f"--push-to-hub {repo_id!r}: not a Hub repository id", "give OWNER/NAME, e.g. me/prover-lora")
    return repo_id


def preflight(repo_id: str) -> None:
    """Before hours of work: a valid repository id and a token to push with (its value is not shown)."""
    check_repo_id(repo_id)
    try:
        from huggingface_hub import get_token
    except ImportError:
        raise SetupError("--push-to-hub needs huggingface_hub", 'pip install -e ".[ml]"') from None
    if not get_token():
        raise SetupError("--push-to-hub: no Hugging Face token", "set HF_TOKEN or run `hf auth login`")


def _walk(folder: Path, prefix: str = "") -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or any(part.startswith(SKIP_PARTS) for part in rel.parts):
            continue
        out[f"{prefix}{rel.as_posix()}"] = p
    return out


def adapter_layout(out_dir: Path) -> dict[str, Path]:
    """A ``bridge train sft --out`` directory (or an iterate round): the adapter's files at the repo root
    (where peft's ``from_pretrained(REPO)`` looks), the card and the training summary beside them."""
    out_dir = Path(out_dir)
    adapter = out_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise InputError(f"{out_dir}: no trained adapter (adapter/adapter_config.json)",
                         "push a directory a finished `bridge train sft` or iterate round wrote")
    files = _walk(adapter)
    for name in ("README.md", SUMMARY):
        if (out_dir / name).is_file():
            files[name] = out_dir / name
    return files


def merged_layout(model_dir: Path, gguf: Path | None = None) -> dict[str, Path]:
    """A ``bridge merge --out`` directory as it is, plus the GGUF file (when one was written)."""
    files = _walk(Path(model_dir))
    if gguf is not None and Path(gguf).is_file():
        files[Path(gguf).name] = Path(gguf)
    return files


@contextmanager
def staged(files: dict[str, Path], near: Path) -> Iterator[Path]:
    """A temporary folder (on ``near``'s file system, so hard links work) holding ``files`` at their repo
    paths; removed afterwards."""
    near = Path(near)
    near.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".hub-staging-", dir=near))
    try:
        for rel, src in files.items():
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _masked(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def push(req: PushRequest, near: Path) -> PushResult:
    """Create the repository (private unless asked otherwise; an existing one is kept as it is) and upload
    ``req.files`` in one commit."""
    try:
        from huggingface_hub import HfApi, get_token
    except ImportError:
        raise SetupError("--push-to-hub needs huggingface_hub", 'pip install -e ".[ml]"') from None
    if req.repo_type not in REPO_TYPES:
        raise InputError(f"repo type {req.repo_type!r}: one of {', '.join(REPO_TYPES)}")
    check_repo_id(req.repo_id)
    if not req.files:
        raise InputError(f"nothing to push to {req.repo_id}")
    token = get_token()  # HF_TOKEN, then the stored token: huggingface_hub's own order
    if not token:
        raise SetupError("--push-to-hub: no Hugging Face token", "set HF_TOKEN or run `hf auth login`")
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)  # read now: the import may predate the variable
    try:
        url = api.create_repo(req.repo_id, repo_type=req.repo_type, private=req.private, exist_ok=True)
        with staged(req.files, near) as folder:
            info = api.upload_folder(repo_id=req.repo_id, folder_path=str(folder), repo_type=req.repo_type,
                                     path_in_repo=req.path_in_repo or None, commit_message=req.commit_message)
    except BridgeError:
        raise
    except Exception as e:  # noqa: BLE001 - the Hub's answer in one line, the token never in it
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise HubError(f"--push-to-hub {req.repo_id}: {type(e).__name__}: {_masked(first, token)}",
                       "check the repository name, the token's write access and HF_ENDPOINT") from None
    prefix = f"{req.path_in_repo.strip('/')}/" if req.path_in_repo else ""
    return PushResult(req.repo_id, req.repo_type, req.private, str(url), getattr(info, "oid", None),
                      sorted(prefix + f for f in req.files))


def run_layout(run_dir: Path) -> dict[str, Path]:
    """What a run publishes: a ``train sft --out`` directory's adapter, or an iterate run's final adapter
    (the last trained round's) with the run's card, rounds table and that round's training summary."""
    run_dir = Path(run_dir)
    if (run_dir / "adapter").is_dir():
        return adapter_layout(run_dir)
    rounds = round_dirs(run_dir)
    if not rounds:
        raise InputError(f"{run_dir}: no trained adapter (adapter/, or round-K/adapter/ of an iterate run)",
                         "push after a round has trained")
    files = adapter_layout(rounds[-1])
    for name in ("README.md", "rounds.json", "rounds.md", "iterate.json"):
        if (run_dir / name).is_file():
            files[name] = run_dir / name
    return files


def round_dirs(run_dir: Path) -> list[Path]:
    """The rounds of an iterate run that trained an adapter, in order."""
    found = [p for p in Path(run_dir).glob("round-*") if p.name[6:].isdigit()
             and (p / "adapter" / "adapter_config.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[6:]))


def merged_card(info: dict[str, Any], repo_id: str, gguf: str | None) -> str:
    """The README card of a merged model: what it was made of (``bridge_merge.json``)."""
    base = info.get("base_model", "")
    lines = ["---", f"base_model: {json.dumps(str(base))}", "library_name: transformers",
             "tags:", "- lean4", "- theorem-proving", "- bridge", "- merged-lora"]
    if gguf:
        lines.append("- gguf")
    lines += ["---", "", f"# {repo_id}", "",
              f"The LoRA adapter merged into `{base}` by `bridge merge`: a plain transformers model "
              "(vLLM loads it too, no peft needed).", "",
              f"- weights' dtype: {info.get('dtype')}", f"- parameters: {info.get('parameters')}"]
    if gguf:
        lines += [f"- `{gguf}`: the same weights as GGUF ({info.get('gguf_type', '')}) for llama.cpp"]
    if info.get("training_summary"):
        lines += ["", "The adapter's `training_summary.json` (hyperparameters, loss, parameter counts) is "
                  "uploaded beside the weights."]
    return "\n".join(lines) + "\n"


def dataset_card(repo_id: str, data_file: str, rows: int, meta: dict[str, Any], proved_only: bool) -> str:
    """The README card of a dataset of verified proofs (``bridge export --proved``)."""
    what = "verified proofs" if proved_only else "samples with their verdicts"
    lines = ["---", "configs:", "- config_name: default", "  data_files:", "  - split: train",
             f"    path: {data_file}", "tags:", "- lean4", "- theorem-proving", "- bridge", "---", "",
             f"# {repo_id}", "",
             f"{rows} {what} exported by `bridge export` from a `bridge prove` run: every proof was checked by "
             "Lean (REPL v4.9.0) through bridge's soundness gate.", "",
             f"- dataset: {meta.get('dataset')}", f"- model: {meta.get('served_model') or meta.get('model')}",
             f"- samples per problem: {meta.get('samples')}", "",
             "Fields: problem_id, split, header, formal_statement, helpers, proof, code (exactly what Lean "
             "checked), sample_id, round, model, verdict, gate, reason, rule, completion."]
    return "\n".join(lines) + "\n"

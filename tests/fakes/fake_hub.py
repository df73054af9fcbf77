"""A stand-in Hugging Face Hub on 127.0.0.1 that records what arrives: the repositories created (type,
visibility), the files of every commit (path -> bytes) and the tokens the client sent.

It answers exactly the endpoints ``huggingface_hub`` 2.4's ``HfApi.create_repo`` and ``upload_folder``
call (read in hf_api.py / _commit_api.py / _upload_pipeline.py of that version):
  POST /api/repos/create                          {name, organization, type?, visibility?} -> {url}
  POST /api/validate-yaml                         {content, repoType} (a README.md in the commit) -> {}
  POST /api/{type}s/{repo}/preupload/{revision}   {files: [{path, sample, size}]} -> {files: [{path, uploadMode,
                                                  shouldIgnore, oid}]}
  POST /api/{type}s/{repo}/commit/{revision}      ndjson: {key: header}, then {key: file, value: {path,
                                                  content (base64), encoding}} lines -> {commitUrl, commitOid}
Every file is answered ``uploadMode: regular``, so its bytes travel inside the commit: the LFS/Xet
upload paths (``lfsFile`` lines, /info/lfs/objects/batch, the Xet CAS) are never taken and not served.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes.json_server import JsonServer

REPO_TYPES = ("model", "dataset", "space")


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    visibility: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)


class FakeHub:
    def __init__(self, token: str | None = None):
        self.token = token  # when set, a request without "Bearer TOKEN" is refused (401)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (path, Authorization header)
        self.unknown: list[str] = []
        self.lock = threading.Lock()
        self.server = JsonServer(raw=self.handle)
        self.url = ""

    def start(self) -> str:
        self.url = self.server.start().removesuffix("/v1")
        return self.url

    def stop(self) -> None:
        self.server.stop()

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        with self.lock:
            self.requests.append((path, auth))
        if self.token is not None and auth != f"Bearer {self.token}":
            return 401, {"error": "Invalid credentials in Authorization header"}
        parts = [unquote(x) for x in urlsplit(path).path.strip("/").split("/")]
        if parts == ["api", "repos", "create"]:
            return self.create(json.loads(body))
        if parts == ["api", "validate-yaml"]:
            return 200, {}
        if len(parts) >= 6 and parts[0] == "api" and parts[1].endswith("s") and parts[-2] in ("preupload", "commit"):
            rtype, repo_id = parts[1][:-1], "/".join(parts[2:-2])
            with self.lock:
                repo = self.repos.get((rtype, repo_id))
            if repo is None:
                return 404, {"error": "Repository not found"}
            if parts[-2] == "preupload":
                files = json.loads(body)["files"]
                return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                        "oid": None} for f in files]}
            return self.commit(repo, body)
        with self.lock:
            self.unknown.append(path)
        return 404, {"error": f"the stand-in Hub does not serve {path}"}

    def create(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        rtype = req.get("type") or "model"
        if rtype not in REPO_TYPES:
            return 400, {"error": "bad type"}
        repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
        prefix = "" if rtype == "model" else f"{rtype}s/"
        with self.lock:
            if (rtype, repo_id) in self.repos:
                return 409, {"error": "You already created this model repo", "url": f"{self.url}/{prefix}{repo_id}"}
            self.repos[(rtype, repo_id)] = Repo(repo_id, rtype, req.get("visibility"))
        return 200, {"url": f"{self.url}/{prefix}{repo_id}", "name": repo_id}

    def commit(self, repo: Repo, body: bytes) -> tuple[int, dict[str, Any]]:
        lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
        header = next((x["value"] for x in lines if x["key"] == "header"), {})
        added: dict[str, bytes] = {}
        for x in lines:
            if x["key"] == "file":
                v = x["value"]
                if v.get("encoding") != "base64":
                    return 400, {"error": "expected base64"}
                added[v["path"]] = base64.b64decode(v["content"])
            elif x["key"] != "header":  # lfsFile, deletions: never asked for (every file is "regular")
                return 400, {"error": f"the stand-in Hub does not take {x['key']}"}
        oid = hashlib.sha1(body).hexdigest()
        with self.lock:
            repo.files.update(added)
            repo.commits.append({"summary": header.get("summary"), "files": sorted(added), "oid": oid})
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return 200, {"commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{oid}", "commitOid": oid,
                     "success": True}

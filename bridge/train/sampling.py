"""Sampling inside the loop with the current round's adapter: three ways.

* ``transformers``: the base model with the adapter merged in (``provers.backends.hf``);
* ``vllm``: one ``vllm.LLM`` with LoRA enabled; each request names the adapter (``LoRARequest``);
* ``endpoint``: an OpenAI-compatible server that serves the adapter under a name. With
  ``--endpoint-lora load`` (the default) bridge asks the server to load each round's adapter,
  ``POST {endpoint}/load_lora_adapter {"lora_name", "lora_path"}`` (vLLM's runtime LoRA API: start the
  server with ``--enable-lora --max-lora-rank R`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``; the
  path must be readable by the server, e.g. a shared file system), then samples with
  ``model = lora_name``. With ``--endpoint-lora none`` the server is used as it is (the model does not
  change between rounds unless you reload it yourself).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError, SetupError
from provers.backends.base import Backend, Prompt, SamplingParams


@dataclass
class SamplingConfig:
    backend: str = "transformers"  # "transformers" | "vllm" | "endpoint"
    device: str | None = None
    batch_size: int | None = None
    endpoint: str | None = None
    endpoint_lora: str = "load"  # "load" | "none"
    served_model: str | None = None  # the base model's name on the endpoint (default: --model)
    api_key: str | None = None
    vllm_memory: float = 0.5  # vLLM's gpu_memory_utilization: training runs in the same process after it
    max_lora_rank: int = 64


def adapter_name(run_dir: Path, adapter: Path) -> str:
    """The name an endpoint serves a round's adapter under: run and round, unique across runs."""
    return f"bridge-{Path(run_dir).resolve().name}-{Path(adapter).resolve().parent.name}"


def load_lora_on_endpoint(endpoint: str, name: str, path: Path, api_key: str | None = None,
                          timeout: float = 600) -> None:
    """Ask a vLLM server to load ``path`` as ``name`` (an adapter it already has is fine)."""
    body = json.dumps({"lora_name": name, "lora_path": str(Path(path).resolve())}).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(endpoint.rstrip("/") + "/load_lora_adapter", data=body, headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - the user's endpoint
            r.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", errors="replace")[:300]
        if e.code == 400 and "already" in detail.lower():
            return  # loaded by an earlier (killed) run of this round
        raise BridgeError(f"{endpoint} did not load the adapter {path} (HTTP {e.code}): {detail}",
                          "start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, make the "
                          "adapter path readable by the server, or serve it yourself and pass "
                          "--endpoint-lora none") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise BridgeError(f"{endpoint} cannot be reached to load the adapter: {e}",
                          "check the server is up and --endpoint points at it") from None


class VLLMLoraBackend:
    """vLLM with LoRA: the base model is loaded once; each round's adapter is named per request."""

    def __init__(self, model: str, max_lora_rank: int = 64, memory: float = 0.5):
        try:
            import vllm
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise SetupError("vLLM is not installed", 'pip install -e ".[vllm]", or sample with transformers') from None
        from bridge.models import model_source

        self.vllm, self.LoRARequest = vllm, LoRARequest
        source, _ = model_source(model)
        self.llm = vllm.LLM(model=source, enable_lora=True, max_lora_rank=max_lora_rank, enable_prefix_caching=True,
                            gpu_memory_utilization=memory)
        self.request: Any = None
        self.name = f"vllm:{model}"
        self._ids: dict[str, int] = {}

    def use(self, adapter: Path | None) -> None:
        if adapter is None:
            self.request = None
            return
        key = str(Path(adapter).resolve())
        self._ids.setdefault(key, len(self._ids) + 1)
        self.request = self.LoRARequest(Path(key).parent.name, self._ids[key], key)
        self.name = f"vllm:{key}"

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        sp = self.vllm.SamplingParams(n=n, temperature=params.temperature, top_p=params.top_p,
                                      max_tokens=params.max_tokens, seed=params.seed)
        if isinstance(prompt, str):
            out = self.llm.generate([prompt], sp, use_tqdm=False, lora_request=self.request)
        else:
            out = self.llm.chat([prompt], sp, use_tqdm=False, lora_request=self.request)
        return [o.text for o in out[0].outputs]


_VLLM: dict[str, VLLMLoraBackend] = {}  # one engine per process: vLLM cannot be started twice cheaply


def sampling_backend(cfg: SamplingConfig, model: str, adapter: Path | None, run_dir: Path) -> Backend:
    """The backend that samples with ``model`` plus ``adapter`` (None: the base model)."""
    if cfg.backend == "endpoint":
        from provers.backends.openai_compat import EndpointBackend

        assert cfg.endpoint
        served = cfg.served_model or model
        if adapter is not None and cfg.endpoint_lora == "load":
            served = adapter_name(run_dir, adapter)
            load_lora_on_endpoint(cfg.endpoint, served, adapter, cfg.api_key)
        return EndpointBackend(cfg.endpoint, served, api_key=cfg.api_key)
    if cfg.backend == "vllm":
        be = _VLLM.get(model)
        if be is None:
            be = _VLLM[model] = VLLMLoraBackend(model, cfg.max_lora_rank, cfg.vllm_memory)
        be.use(adapter)
        return be
    from provers.backends import make_backend

    return make_backend(model, batch_size=cfg.batch_size, device=cfg.device,
                        adapter=str(adapter) if adapter is not None else None)


class LazyBackend:
    """A backend made on the first ``generate``: a resumed step that only has verdicts left to decide
    never loads the model."""

    def __init__(self, make: Any):
        self._make = make
        self._be: Backend | None = None
        self.name = "lazy"

    @property
    def loaded(self) -> bool:
        return self._be is not None

    @property
    def served_model(self) -> str | None:
        return getattr(self._be, "served_model", None)

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        if self._be is None:
            self._be = self._make()
            self.name = self._be.name
        return self._be.generate(prompt, n, params)

    def close(self) -> None:
        """Drop a transformers model (vLLM's engine stays for the next round)."""
        self._be = None

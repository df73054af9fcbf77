"""``bridge merge ... --gguf OUT.gguf``: a merged transformers model (llama or qwen2) as one GGUF file that
llama.cpp loads, written with llama.cpp's own ``gguf`` package (``GGUFWriter``, ``TensorNameMap``,
``gguf.quants``), the tokenizer inside.

Conventions follow llama.cpp's ``convert_hf_to_gguf.py`` (read at ggml-org/llama.cpp; our own code):
- tensor names by ``gguf.get_tensor_name_map(arch, n_blocks)`` (``model.layers.0.self_attn.q_proj.weight``
  -> ``blk.0.attn_q.weight``); ``rotary_emb.inv_freq`` buffers are dropped;
- llama only: the rows of q_proj/k_proj are permuted (``LlamaModel.permute``), because HF's llama applies
  rope to the two halves of a head (rotate_half) and llama.cpp's llama graph to adjacent pairs; qwen2
  runs llama.cpp's NEOX rope, which is HF's layout, so its weights go as they are;
- 1-D tensors (norms, biases) stay F32; matrices are F16, or Q8_0 (32-value blocks) with ``q8_0`` where
  the row length is a multiple of 32 (else F16, as the converter does);
- the tokenizer: a BPE ``tokenizer.json`` as ``tokenizer.ggml.model = gpt2`` with tokens, token types,
  scores, merges and the special ids (``gguf.SpecialVocab``); ``tokenizer.ggml.pre`` names the
  pre-tokenizer llama.cpp must run, found like the converter: the hash of the token ids of its check text.
Tensors are written one at a time (two passes over the safetensors: shapes first, then data), so memory
holds one tensor, not the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from bridge.errors import InputError, SetupError

GGUF_TYPES = ("f16", "q8_0")
ARCHES = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}

# convert_hf_to_gguf.py's get_vocab_base_pre: its check text, and the hashes of the pre-tokenizers the
# provers use (DeepSeek-Prover: deepseek-llm / deepseek-coder; Qwen2.5-based: qwen2; GPT-2 byte-level)
CHECK_TEXT = ('\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 '
              '333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ '
              '------======= нещо на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, '
              '\'RE you sure? \'M not sure I\'ll make it, \'D you like some tea? We\'Ve a\'lL')
PRE_BY_HASH = {
    "049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754": "deepseek-llm",
    "347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821": "deepseek-coder",
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
}
# a tokenizer of our own (the tests' tiny ones) has no known hash: its pre-tokenizer's own regex then names it
QWEN2_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
               "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


@dataclass(frozen=True)
class Hparams:
    arch: str  # gguf architecture name: llama | qwen2
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ctx: int
    rms_eps: float
    rope_theta: float
    vocab_size: int
    rope_scaling: dict[str, Any] | None
    tied: bool


def hparams_of(config: dict[str, Any]) -> Hparams:
    """The model's shape from its ``config.json``; an architecture llama.cpp's llama/qwen2 graphs do not run
    is refused by name."""
    archs = config.get("architectures") or []
    arch = next((ARCHES[a] for a in archs if a in ARCHES), None)
    if arch is None:
        raise InputError(f"--gguf: architecture {', '.join(archs) or '(none in config.json)'} is not supported",
                         f"GGUF export covers {', '.join(ARCHES)} (DeepSeek-Prover, Qwen2.5-based provers)")
    n_head = int(config["num_attention_heads"])
    n_embd = int(config["hidden_size"])
    scaling = config.get("rope_scaling")
    if scaling and (scaling.get("rope_type") or scaling.get("type")) not in ("linear", "default"):
        raise InputError(f"--gguf: rope scaling {scaling} is not supported", "linear scaling (or none) only")
    return Hparams(arch, int(config["num_hidden_layers"]), n_embd, int(config["intermediate_size"]), n_head,
                   int(config.get("num_key_value_heads") or n_head), int(config.get("head_dim") or n_embd // n_head),
                   int(config.get("max_position_embeddings") or 4096), float(config.get("rms_norm_eps", 1e-6)),
                   float(config.get("rope_theta", 10000.0)), int(config["vocab_size"]),
                   scaling if scaling and (scaling.get("rope_type") or scaling.get("type")) == "linear" else None,
                   bool(config.get("tie_word_embeddings", False)))


def permute_qk(w: Any, n_head: int) -> Any:
    """llama.cpp's ``LlamaModel.permute``: within each head, rows [first half | second half] become
    interleaved pairs (row ``h*d + 2*i + j`` takes HF row ``h*d + j*d/2 + i``)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def check_gguf_out(path: Path, overwrite: bool) -> None:
    if Path(path).suffix != ".gguf":
        raise InputError(f"--gguf {path}: the file name must end in .gguf")
    if Path(path).exists() and not overwrite:
        raise InputError(f"--gguf {path} exists", "give another file, or --overwrite")
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise SetupError("--gguf needs the gguf package (llama.cpp's writer)", 'pip install -e ".[gguf]"') from None


def pre_tokenizer(tok: Any, tokenizer_json: dict[str, Any]) -> str:
    """``tokenizer.ggml.pre``: the converter's hash of the check text's ids, else (a tokenizer of our own)
    a plain byte-level pre-tokenizer is GPT-2's and Qwen2's split regex before a regex-less byte level is
    qwen2's; anything else is refused rather than guessed."""
    h = sha256(str(tok.encode(CHECK_TEXT)).encode()).hexdigest()
    if h in PRE_BY_HASH:
        return PRE_BY_HASH[h]
    pre = tokenizer_json.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    seq = pre.get("pretokenizers") or []
    if (pre.get("type") == "Sequence" and len(seq) == 2 and seq[0].get("type") == "Split"
            and (seq[0].get("pattern") or {}).get("Regex") == QWEN2_SPLIT
            and seq[1].get("type") == "ByteLevel" and not seq[1].get("use_regex", True)):
        return "qwen2"
    raise InputError(f"--gguf: the tokenizer's pre-tokenizer is not one llama.cpp knows (hash {h[:16]}...)",
                     "convert this model with llama.cpp's convert_hf_to_gguf.py")


def vocab(model_dir: Path, vocab_size: int) -> tuple[list[str], list[int], str]:
    """(tokens, token types, pre-tokenizer) like the converter's ``get_vocab_base``: ids without a token
    become ``[PADi]`` (UNUSED), added special tokens CONTROL, other added ones USER_DEFINED."""
    import gguf
    from transformers import AutoTokenizer

    tj = Path(model_dir) / "tokenizer.json"
    if not tj.is_file():
        raise InputError(f"--gguf: {model_dir} has no tokenizer.json (a BPE tokenizer)",
                         "SentencePiece-only tokenizers: use llama.cpp's convert_hf_to_gguf.py")
    tj_data = json.loads(tj.read_text(encoding="utf-8"))
    if (tj_data.get("model") or {}).get("type") != "BPE":
        raise InputError(f"--gguf: {tj} is a {(tj_data.get('model') or {}).get('type')} tokenizer, not BPE",
                         "use llama.cpp's convert_hf_to_gguf.py for it")
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    reverse = {i: t for t, i in tok.get_vocab().items()}
    added = tok.get_added_vocab()
    decoder = tok.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        t = reverse.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(int(gguf.TokenType.UNUSED))
        elif t in added:
            tokens.append(t)
            types.append(int(gguf.TokenType.CONTROL if decoder.get(i) is not None and decoder[i].special
                             else gguf.TokenType.USER_DEFINED))
        else:
            tokens.append(t)
            types.append(int(gguf.TokenType.NORMAL))
    return tokens, types, pre_tokenizer(tok, tj_data)


def _safetensors(model_dir: Path) -> list[Path]:
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise InputError(f"--gguf: {model_dir} has no safetensors weights")
    return files


def plan_tensor(name: str, shape: tuple[int, ...], hp: Hparams, wtype: str) -> tuple[str, str] | None:
    """(gguf name, ggml type: F32 | F16 | Q8_0) of an HF tensor; None for what llama.cpp does not take."""
    import gguf

    if name.endswith("rotary_emb.inv_freq"):
        return None
    arch = gguf.MODEL_ARCH.LLAMA if hp.arch == "llama" else gguf.MODEL_ARCH.QWEN2
    new = gguf.get_tensor_name_map(arch, hp.n_layer).get_name(name, try_suffixes=(".weight", ".bias"))
    if new is None:
        raise InputError(f"--gguf: tensor {name} has no llama.cpp name for {hp.arch}")
    if len(shape) == 1:
        return new, "F32"
    if wtype == "q8_0" and shape[-1] % 32 == 0:
        return new, "Q8_0"
    return new, "F16"


def convert(name: str, data: Any, hp: Hparams, ggml_type: str) -> Any:
    """The numpy array written for one tensor (float32 in: F32/F16 values or Q8_0 blocks as bytes)."""
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    if hp.arch == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
        data = permute_qk(data, hp.n_head)
    elif hp.arch == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
        data = permute_qk(data, hp.n_head_kv)
    if ggml_type == "F32":
        return np.ascontiguousarray(data, dtype=np.float32)
    if ggml_type == "F16":
        return np.ascontiguousarray(data, dtype=np.float16)
    return quants.quantize(np.ascontiguousarray(data, dtype=np.float32), GGMLQuantizationType.Q8_0)


def write_gguf(model_dir: Path, out: Path, wtype: str = "f16", log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write ``out`` from the merged model in ``model_dir``; a summary of what was written."""
    try:
        import gguf
        import numpy as np  # noqa: F401
        import torch
        from safetensors import safe_open
    except ImportError as e:
        raise SetupError(f"--gguf needs gguf, numpy, torch and safetensors ({e.name} is missing)",
                         'pip install -e ".[ml,gguf]"') from None
    if wtype not in GGUF_TYPES:
        raise InputError(f"--gguf-type {wtype}: one of {', '.join(GGUF_TYPES)}")
    model_dir, out = Path(model_dir), Path(out)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    hp = hparams_of(config)
    tokens, types, pre = vocab(model_dir, hp.vocab_size)

    # pass 1: names, shapes and types from the safetensors headers (no data read)
    plan: list[tuple[Path, str, str, str, tuple[int, ...]]] = []
    for f in _safetensors(model_dir):
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():  # noqa: SIM118 - safe_open has no __iter__
                shape = tuple(st.get_slice(name).get_shape())
                got = plan_tensor(name, shape, hp, wtype)
                if got is not None:
                    plan.append((f, name, got[0], got[1], shape))

    tmp = out.with_name(out.name + ".partial")
    w = gguf.GGUFWriter(str(tmp), hp.arch)
    w.add_name(Path(str(config.get("_name_or_path") or model_dir.name)).name or model_dir.name)
    w.add_context_length(hp.n_ctx)
    w.add_embedding_length(hp.n_embd)
    w.add_block_count(hp.n_layer)
    w.add_feed_forward_length(hp.n_ff)
    w.add_head_count(hp.n_head)
    w.add_head_count_kv(hp.n_head_kv)
    w.add_rope_dimension_count(hp.head_dim)
    w.add_rope_freq_base(hp.rope_theta)
    w.add_layer_norm_rms_eps(hp.rms_eps)
    w.add_vocab_size(hp.vocab_size)
    if hp.rope_scaling:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(hp.rope_scaling["factor"]))
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0 if wtype == "q8_0" else gguf.LlamaFileType.MOSTLY_F16))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores([0.0] * len(tokens))  # llama.cpp's BPE ranks merges, not scores: neutral values
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    if not special.merges:
        raise InputError(f"--gguf: no BPE merges in {model_dir / 'tokenizer.json'}")
    special.add_to_gguf(w, quiet=True)

    qtype = {"F32": gguf.GGMLQuantizationType.F32, "F16": gguf.GGMLQuantizationType.F16,
             "Q8_0": gguf.GGMLQuantizationType.Q8_0}
    import numpy as np

    for _, _, new, ty, shape in plan:
        if ty == "Q8_0":
            byte_shape = gguf.quant_shape_to_byte_shape(shape, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor_info(new, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), raw_dtype=qtype[ty])
        else:
            dt = np.dtype(np.float32 if ty == "F32" else np.float16)
            w.add_tensor_info(new, shape, dt, int(np.prod(shape)) * dt.itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    # pass 2: one tensor at a time, in the planned order
    counts: dict[str, int] = {}
    opened: dict[Path, Any] = {}
    try:
        for f, name, _new, ty, _shape in plan:
            if f not in opened:
                opened.clear()
                opened[f] = safe_open(str(f), framework="pt")
            data = opened[f].get_tensor(name).to(torch.float32).numpy()
            w.write_tensor_data(convert(name, data, hp, ty))
            counts[ty] = counts.get(ty, 0) + 1
    finally:
        w.close()
    tmp.replace(out)
    info = {"path": str(out), "architecture": hp.arch, "type": wtype, "tensors": len(plan), "tensor_types": counts,
            "tokenizer_pre": pre, "vocab": len(tokens), "bytes": out.stat().st_size}
    if log:
        log(f"gguf: {len(plan)} tensors ({', '.join(f'{n} {t}' for t, n in sorted(counts.items()))}), "
            f"{hp.arch}, tokenizer {pre}, {out.stat().st_size:,} bytes")
    return info

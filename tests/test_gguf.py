"""`bridge merge ... --gguf`: a tiny random llama (and qwen2) model's GGUF reads back with gguf's own
reader: llama.cpp's names, the shapes, every value within its type's tolerance of the merged model's
tensor (F16: half precision; Q8_0: one quantization step of its 32-value block), the llama Q/K rows in
llama.cpp's rope order, the tokenizer inside; and, where llama-cpp-python is installed, llama.cpp's greedy
continuation equals transformers'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tiny_model import build_tiny_model

np = pytest.importorskip("numpy")
gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")
pytest.importorskip("peft")


def tiny(path: Path, arch: str) -> Path:
    """tests/tiny_model.py's llama, or the same shape as Qwen2 (q/k/v biases, NEOX rope)."""
    build_tiny_model(path)
    if arch == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        cfg = json.loads((path / "config.json").read_text())
        torch.manual_seed(1)
        q = Qwen2ForCausalLM(Qwen2Config(
            vocab_size=cfg["vocab_size"], hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rope_theta=1e6,
            eos_token_id=cfg["eos_token_id"], pad_token_id=cfg["pad_token_id"], tie_word_embeddings=False))
        for f in path.glob("*.safetensors"):
            f.unlink()
        q.save_pretrained(path)
    return path


def adapter_for(model: Path, out: Path) -> Path:
    """A LoRA adapter with non-zero B (a trained one's effect), so the merge changes the weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(2)
    m = get_peft_model(AutoModelForCausalLM.from_pretrained(model),
                       LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "k_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    m.save_pretrained(out)
    return out


def merged_tensors(d: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    out: dict[str, np.ndarray] = {}
    for f in d.glob("*.safetensors"):
        out.update({k: v.astype(np.float32) for k, v in load_file(str(f)).items()})
    return out


def hf_row_of(gguf_row: int, head_dim: int) -> int:
    """llama: GGUF row h*d + 2*i + j is HF row h*d + j*d/2 + i (rope pairs adjacent vs split halves)."""
    h, r = divmod(gguf_row, head_dim)
    i, j = divmod(r, 2)
    return h * head_dim + j * (head_dim // 2) + i


def name_map(arch: str, n: int) -> dict[str, str]:
    base = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight"}
    per = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
           "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
           "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
           "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
           "mlp.down_proj.weight": "ffn_down.weight"}
    if arch == "qwen2":
        per |= {"self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
                "self_attn.v_proj.bias": "attn_v.bias"}
    for b in range(n):
        base |= {f"model.layers.{b}.{k}": f"blk.{b}.{v}" for k, v in per.items()}
    return base


@pytest.mark.parametrize(("arch", "wtype"), [("llama", "f16"), ("llama", "q8_0"), ("qwen2", "q8_0")])
def test_gguf_reads_back_equal_within_tolerance(tmp_path: Path, arch: str, wtype: str) -> None:
    from bridge.cli.main import main

    model = tiny(tmp_path / "model", arch)
    adapter = adapter_for(model, tmp_path / "adapter")
    merged, out = tmp_path / "merged", tmp_path / "m.gguf"
    assert main(["merge", str(adapter), "--out", str(merged), "--gguf", str(out), "--gguf-type", wtype]) == 0
    src = merged_tensors(merged)
    base = merged_tensors(model)
    assert not np.allclose(src["model.layers.0.self_attn.q_proj.weight"],
                           base["model.layers.0.self_attn.q_proj.weight"])  # the adapter is in

    r = gguf.GGUFReader(str(out))
    f = {k: v.contents() for k, v in r.fields.items()}
    cfg = json.loads((merged / "config.json").read_text())
    assert f["general.architecture"] == arch
    assert f[f"{arch}.block_count"] == 2 and f[f"{arch}.embedding_length"] == 32
    assert f[f"{arch}.attention.head_count"] == 4 and f[f"{arch}.attention.head_count_kv"] == 2
    assert f[f"{arch}.rope.dimension_count"] == 8 and f[f"{arch}.feed_forward_length"] == 64
    assert f[f"{arch}.rope.freq_base"] == pytest.approx(cfg.get("rope_theta", 10000.0))
    assert f["general.file_type"] == (7 if wtype == "q8_0" else 1)
    # the tokenizer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(merged)
    vocab = tok.get_vocab()
    # transformers saves a qwen2 model's tokenizer with Qwen2's split regex: llama.cpp must run that one
    assert f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == ("qwen2" if arch == "qwen2" else "gpt-2")
    assert len(f["tokenizer.ggml.tokens"]) == cfg["vocab_size"] == len(f["tokenizer.ggml.token_type"])
    assert all(vocab[t] == i for i, t in enumerate(f["tokenizer.ggml.tokens"]) if t in vocab)
    assert f["tokenizer.ggml.token_type"][tok.eos_token_id] == int(gguf.TokenType.CONTROL)
    assert f["tokenizer.ggml.eos_token_id"] == tok.eos_token_id
    assert f["tokenizer.ggml.padding_token_id"] == tok.pad_token_id
    merges = json.loads((merged / "tokenizer.json").read_text())["model"]["merges"]
    assert f["tokenizer.ggml.merges"] == [" ".join(m) if isinstance(m, list) else m for m in merges]
    assert len(f["tokenizer.ggml.scores"]) == cfg["vocab_size"]

    names = name_map(arch, 2)
    got = {t.name: t for t in r.tensors}
    assert set(got) == set(names.values())
    for hf, gname in names.items():
        t, want = got[gname], src[hf]
        assert tuple(int(x) for x in t.shape[::-1]) == want.shape  # GGUF lists ne0 (the row length) first
        vals = gguf.quants.dequantize(t.data, t.tensor_type).reshape(want.shape).astype(np.float32)
        if arch == "llama" and ("q_proj" in hf or "k_proj" in hf):
            rows = [hf_row_of(g, 8) for g in range(want.shape[0])]
            want = want[rows]
        if want.ndim == 1:
            assert t.tensor_type == gguf.GGMLQuantizationType.F32
            np.testing.assert_array_equal(vals, want)
        elif wtype == "f16":
            assert t.tensor_type == gguf.GGMLQuantizationType.F16
            np.testing.assert_allclose(vals, want, rtol=2 ** -10, atol=2 ** -24)
        else:
            assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0
            blocks = want.reshape(-1, 32)
            step = np.abs(blocks).max(axis=1, keepdims=True) / 127  # one quantization step per block
            assert (np.abs(vals.reshape(-1, 32) - blocks) <= step * 1.01 + 1e-7).all(), hf
            assert not np.array_equal(vals, want)  # really quantized


def test_gguf_refuses_what_it_cannot_convert(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bridge.cli.main import main
    from bridge.errors import InputError
    from bridge.publish.gguf_export import hparams_of

    with pytest.raises(InputError, match="GPT2LMHeadModel is not supported"):
        hparams_of({"architectures": ["GPT2LMHeadModel"]})
    assert main(["merge", str(tmp_path), "--out", str(tmp_path / "o"), "--gguf", str(tmp_path / "x.bin")]) == 2
    assert "must end in .gguf" in capsys.readouterr().err


def test_llama_cpp_greedy_continuation_equals_transformers(tmp_path: Path) -> None:
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (it builds llama.cpp "
                                    "from source: pip install llama-cpp-python)")
    from transformers import AutoModelForCausalLM

    from bridge.publish.gguf_export import write_gguf

    for arch in ("llama", "qwen2"):
        model = tiny(tmp_path / arch, arch)
        out = tmp_path / f"{arch}.gguf"
        write_gguf(model, out, "f16")
        hf = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
        prompt = [5, 17, 42, 99, 7]
        with torch.no_grad():
            want = hf.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False,
                               eos_token_id=None, pad_token_id=0)[0, len(prompt):].tolist()
        llm = llama_cpp.Llama(model_path=str(out), n_ctx=64, n_threads=1, verbose=False, logits_all=False)
        got = []
        for tok in llm.generate(prompt, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
            got.append(int(tok))
            if len(got) == 12:
                break
        assert got == want, arch

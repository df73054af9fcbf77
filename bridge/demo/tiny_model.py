"""A tiny random transformers model for ``bridge demo --tiny-model`` and the training tests: a random
LlamaForCausalLM whose word-level tokenizer has only pieces of indented tactic text, so its random
samples pass the static screen and reach the REPL. Built locally in seconds on the CPU; nothing is
downloaded. It has learned nothing: what it "proves" is what the stand-in REPL (not Lean) accepts.
Needs the ``ml`` extra (torch, transformers, tokenizers)."""

from __future__ import annotations

from pathlib import Path

CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")
# every piece starts with spaces (a token at column 0 is a command to the screen) or is a line break;
# "```" ends a deepseek-v1.5 completion
PIECES = ["\n", "```", "  simp", "  omega", "  decide", "  rfl", "  exact", "  trivial", "  norm_num", "  linarith",
          "  constructor", "  intro", "  assumption", " h", " x", " rfl", " <;>", " simp", " omega", " trivial"]
TEMPLATE = "deepseek-v1.5"  # the prompt family the tiny model is sampled with


def build_word_model(path: Path, hidden: int = 32, layers: int = 2, seed: int = 0, init_std: float = 0.02) -> Path:
    """A random LlamaForCausalLM and a word-level tokenizer over :data:`PIECES` (anything else is <unk>),
    saved to ``path``.

    ``init_std`` above the default lets LoRA (which trl never puts on ``lm_head``) move the logits far
    enough to memorize: with 0.02 a 32-wide random head keeps every token's probability near uniform."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    vocab = {t: i for i, t in enumerate(["<unk>", "<eos>", "<pad>", *PIECES])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n| *[^\s]+| +"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>")
    fast.chat_template = CHAT
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None,
                      initializer_range=init_std)
    path.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path

"""Prompt rendering and proof extraction for each prover family, on realistic answers."""

from __future__ import annotations

from bridge.data.problem import Problem
from provers.templates import FAMILIES, extract, family_for, lean_blocks, render, render_correction

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"
STMT = "theorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
P = Problem(id="mathd_algebra_10", split="test", header=HEADER, formal_statement=STMT,
            informal_statement="/-- If $2x = 4$, then $x = 2$. -/\n", name="mathd_algebra_10")


def test_family_from_model_name() -> None:
    assert family_for("deepseek-ai/DeepSeek-Prover-V1.5-RL").name == "deepseek-v1.5"
    assert family_for("Goedel-LM/Goedel-Prover-V2-8B").name == "goedel-v2"
    assert family_for("deepseek-ai/DeepSeek-Prover-V2-7B").name == "goedel-v2"
    assert family_for("AI-MO/Kimina-Prover-Distill-1.7B").name == "kimina"
    assert family_for("anything", "kimina").name == "kimina"


def test_deepseek_v15_prompt_and_cut_at_first_fence() -> None:
    fam = FAMILIES["deepseek-v1.5"]
    prompt = render(fam, P)
    assert prompt == ("Complete the following Lean 4 code with explanatory comments preceding each line of code:\n\n"
                      "```lean4\n" + HEADER + P.informal_statement + STMT)
    answer = "  -- divide by two\n  linarith\n```\n\nSome text\n```lean4\ntheorem x : False := sorry\n```"
    c = extract(fam, P, answer, "s0")
    assert c.body == STMT + "  -- divide by two\n  linarith\n" and c.header == HEADER and c.name == "mathd_algebra_10"
    truncated = extract(fam, P, "  nlinarith [sq_nonneg (x - 2),", "s1")
    assert truncated.body == STMT + "  nlinarith [sq_nonneg (x - 2),"


def test_goedel_v2_prompt_takes_last_block_and_restores_statement() -> None:
    fam = FAMILIES["goedel-v2"]
    msgs = render(fam, P)
    assert len(msgs) == 1 and msgs[0]["role"] == "user"
    assert msgs[0]["content"].startswith("Complete the following Lean 4 code:\n\n```lean4\n" + HEADER + STMT + "  sorry```")
    assert "detailed proof plan" in msgs[0]["content"]
    answer = ("### Proof plan\nDivide.\n```lean4\ntheorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
              "  sorry\n```\nNow the proof:\n```lean4\nimport Mathlib\nopen Real\n\nlemma aux (y : ℝ) : y = y := rfl\n\n"
              "theorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 5) : x = 5 / 2 := by\n  linarith\n```\n")
    c = extract(fam, P, answer, "s0")
    # the model weakened the statement: the reference is put back, its proof and helper kept
    assert c.body == "lemma aux (y : ℝ) : y = y := rfl\n\n" + STMT.rstrip("\n").removesuffix(" by") + " by\n  linarith"
    assert c.helpers.startswith("lemma aux")


def test_no_block_and_several_blocks() -> None:
    fam = FAMILIES["goedel-v2"]
    c = extract(fam, P, "I could not find a proof.", "s0")
    assert c.body == STMT and c.meta.get("note")
    assert lean_blocks("```lean4\na\n```\n```lean\nb\n```\n```lean4\nc") == ["a", "b", "c"]  # truncated last block


def test_kimina_system_prompt_and_think() -> None:
    fam = FAMILIES["kimina"]
    msgs = render(fam, P)
    assert msgs[0] == {"role": "system", "content": "You are an expert in mathematics and Lean 4."}
    assert msgs[1]["content"].startswith("Think about and solve the following problem step by step in Lean 4.\n# Problem:")
    assert "# Formal statement:\n```lean4\n" + HEADER + STMT in msgs[1]["content"]
    answer = ("<think>\nTry:\n```lean4\ntheorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n  exact?\n```\n"
              "</think>\n```lean4\ntheorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n  linarith\n```")
    c = extract(fam, P, answer, "s0")
    assert c.proof == " by\n  linarith" and "exact?" not in c.body


def test_correction_prompts() -> None:
    chat = render_correction(FAMILIES["goedel-v2"], P, render(FAMILIES["goedel-v2"], P), "old answer",
                             "line 3: linarith failed", 1)
    assert [m["role"] for m in chat] == ["user", "assistant", "user"] and "linarith failed" in chat[2]["content"]
    comp = render_correction(FAMILIES["deepseek-v1.5"], P, "", "", "line 3: linarith failed", 1)
    assert comp.endswith(STMT) and "linarith failed" in comp


def test_a_crlf_chat_answer_is_read_as_lf_lines() -> None:
    """Red team: a CRLF answer left a lone \\r at the end of its lean block, which the lexer refuses."""
    from bridge.data.problem import Problem
    from bridge.verify.screen import screen
    from provers.templates import FAMILIES, extract

    p = Problem("t", "test", "import Mathlib\n", "theorem t (x : ℕ) : x + 0 = x := by\n")
    answer = "Proof.\r\n```lean4\r\ntheorem t (x : ℕ) : x + 0 = x := by\r\n  simp\r\n```\r\n"
    c = extract(FAMILIES["goedel-v2"], p, answer, "t/0")
    assert "\r" not in c.body and screen(c) is None

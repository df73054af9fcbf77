"""Final answers out of a solution text, and the normal form strict grading compares (pure).

Extraction: the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; then the fallbacks of the
Qwen2.5-Math evaluation harness, in its order (``evaluation/parser.py``, ``extract_answer``, at
QwenLM/Qwen2.5-Math commit 005449c4f8220b1af7db49aed0285d9901aefea0): Minerva's ``final answer is $...$.
I hope``, then the text after ``he answer is``, after ``final answer is``, after ``答案是``, and at last the
last number of the text (commas dropped). The harness reads ``boxed`` before Minerva's phrase; a boxed
answer wins here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOX = re.compile(r"\\(?:boxed|fbox)")
_NUMBER = re.compile(r"-?\d*\.?\d+")  # the harness's last-number pattern
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Extracted:
    answer: str
    how: str  # "boxed" | "minerva" | "the answer is" | "final answer is" | "答案是" | "last number"


def _braced(text: str, start: int) -> str:
    """The content of the group opening at ``text[start] == "{"``; an unclosed group runs to the end
    (the harness reads a truncated ``\\boxed{12`` as ``12``)."""
    depth, out = 0, []
    for ch in text[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                break
        out.append(ch)
    return "".join(out)


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``/``\\fbox{...}``; ``\\boxed 5`` (no brace) runs to the
    next ``$``, as in the harness. None when there is none."""
    hits = list(_BOX.finditer(text))
    if not hits:
        return None
    rest = text[hits[-1].end():]
    if rest.startswith("{"):
        return _braced(rest, 0)
    return rest.split("$")[0].strip() or None


def _clean(pred: str) -> str:
    """The harness's last touches: newlines (and the indentation after them) out, a leading ``:`` and a
    trailing ``.`` or ``/`` off."""
    pred = re.sub(r"\n\s*", "", pred).strip()
    if pred.startswith(":"):
        pred = pred[1:].strip()
    while pred.endswith((".", "/")):
        pred = pred[:-1].rstrip()
    return pred


def extract_answer(text: str) -> Extracted | None:
    """The final answer of a solution, or None when it states none (not even a number)."""
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return Extracted(_clean(boxed), "boxed")
    if "final answer is $" in text and "$. I hope" in text:
        pred = text.split("final answer is $", 1)[1].split("$. I hope", 1)[0]
        how = "minerva"
    elif "he answer is" in text:
        pred, how = text.split("he answer is")[-1], "the answer is"
    elif "final answer is" in text:
        pred, how = text.split("final answer is")[-1], "final answer is"
    elif "答案是" in text:
        pred, how = text.split("答案是")[1].strip().split("\n\n")[0], "答案是"
    else:
        numbers = _NUMBER.findall(text.replace(",", ""))
        if not numbers:
            return None
        pred, how = numbers[-1], "last number"
    pred = _clean(pred)
    return Extracted(pred, how) if pred else None


def gold_from_solution(solution: str) -> str | None:
    """A reference solution's answer: its last boxed expression (MATH, NuminaMath-CoT)."""
    boxed = last_boxed(solution)
    return _clean(boxed) if boxed and boxed.strip() else None


def gold_from_gsm8k(answer: str) -> tuple[str, str] | None:
    """GSM8K's ``answer`` field: the rationale, ``####``, the number. Returns (number, rationale without
    the calculator annotations ``<<a*b=c>>``), or None without ``####``."""
    if "####" not in answer:
        return None
    rationale, _, number = answer.rpartition("####")
    return number.strip().replace(",", ""), re.sub(r"<<[^>]*>>", "", rationale).strip()


# -- the normal form of strict grading -------------------------------------------------------------

_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_FRAC_SHORT = re.compile(r"\\frac(\d)(\d)")
_FRAC_HALF = re.compile(r"\\frac\{([^{}]*)\}(\d)")
_SQRT_SHORT = re.compile(r"\\sqrt(\w)")


def normalise(answer: str) -> str:
    """A small, documented normal form: two answers are strictly equal when these agree. Whitespace,
    ``$``, ``\\left``/``\\right``, thin spaces and a trailing period go; ``\\dfrac``/``\\tfrac`` are
    ``\\frac``; ``\\frac12`` is ``\\frac{1}{2}`` and ``\\sqrt2`` is ``\\sqrt{2}``; ``^\\circ`` goes;
    ``\\text{...}`` keeps its content; a ``x =`` in front goes. Nothing is evaluated (``0.5`` is not
    ``\\frac{1}{2}`` here: that is math-verify's job)."""
    s = answer.strip()
    for a, b in (("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\left", ""), ("\\right", ""), ("\\!", ""),
                 ("\\,", ""), ("\\;", ""), ("\\ ", ""), ("^{\\circ}", ""), ("^\\circ", ""), ("\\$", ""),
                 ("$", ""), ("\\%", "%")):
        s = s.replace(a, b)
    for _ in range(3):  # nested \text{\textbf{...}}
        s = _TEXT.sub(r"\1", s)
    s = _SPACES.sub("", s)
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_HALF.sub(r"\\frac{\1}{\2}", s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = re.sub(r"^[a-zA-Z]=(?!=)", "", s)
    return s.rstrip(".")


def strict_equal(gold: str, pred: str | None) -> bool:
    return pred is not None and normalise(gold) == normalise(pred) and normalise(gold) != ""


def substring_match(gold: str, response: str) -> bool:
    """The control: the normalised gold answer appears anywhere in the normalised response. It reads
    what the model wrote, not what it answered, so it over-counts (a gold ``2`` is in most texts)."""
    g = normalise(gold)
    return bool(g) and g in normalise(response)


_FENCE = re.compile(r"^\s*```")


def split_steps(text: str) -> list[str]:
    """A solution's steps: its paragraphs (blank-line separated), a fenced block (```python, ```output)
    never cut inside, empty ones dropped; the unit a PRM scores and a profile counts."""
    steps: list[str] = []
    cur: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        if not line.strip() and not fenced:
            if cur:
                steps.append("\n".join(cur).strip())
                cur = []
            continue
        cur.append(line)
    if cur:
        steps.append("\n".join(cur).strip())
    return [s for s in steps if s]

"""Answer grading: extraction (last \\boxed{}, then the Qwen2.5-Math harness's fallbacks), the strict
normal form and the substring control, math-verify equivalence in worker processes (called from worker
threads too), the SymPy fallback, and a grading worker that hangs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bridge.informal import grading
from bridge.informal.extract import (
    extract_answer,
    gold_from_gsm8k,
    gold_from_solution,
    normalise,
    strict_equal,
    substring_match,
)
from bridge.informal.grading import Grader, GradingAborted, equivalent, grade_problem

pytest.importorskip("math_verify")


@pytest.fixture(scope="module")
def grader():
    with Grader(workers=2) as g:
        yield g


@pytest.mark.parametrize("text,answer,how", [
    ("so \\boxed{\\frac{1}{2}} and finally \\boxed{3}", "3", "boxed"),  # the last box
    ("\\boxed{\\frac{a}{b^{2}}}.", "\\frac{a}{b^{2}}", "boxed"),  # nested braces
    ("\\fbox{5}", "5", "boxed"),
    ("the box is \\boxed 7$ done", "7", "boxed"),  # no brace: up to the next $
    ("cut off \\boxed{12", "12", "boxed"),  # unclosed, read to the end as the harness does
    ("Final Answer: The final answer is $7$. I hope it is correct.", "7", "minerva"),
    ("So the answer is 42.", "42", "the answer is"),
    ("The answer is: $\\frac{3}{4}$.", "$\\frac{3}{4}$", "the answer is"),
    ("My final answer is 9/", "9", "final answer is"),
    ("所以答案是 5\n\n其他", "5", "答案是"),
    ("we get 1,234 then 17.5 apples", "17.5", "last number"),
    ("\\boxed{} but the answer is 4", "4", "the answer is"),  # an empty box is no answer
])
def test_extraction(text: str, answer: str, how: str) -> None:
    ex = extract_answer(text)
    assert ex is not None and (ex.answer, ex.how) == (answer, how)


def test_no_answer_at_all() -> None:
    assert extract_answer("I do not know.") is None


def test_gold_answers_of_the_formats() -> None:
    assert gold_from_gsm8k("She sells 16 - 3 = <<16-3=13>>13 eggs.\n#### 1,300") == ("1300", "She sells 16 - 3 = 13 eggs.")
    assert gold_from_gsm8k("no hashes") is None
    assert gold_from_solution("Thus $x = \\boxed{\\dfrac{1}{2}}$.") == "\\dfrac{1}{2}"


@pytest.mark.parametrize("a,b,equal", [
    ("\\dfrac12", "\\frac{1}{2}", True),
    ("x = \\left( 1, 2 \\right).", "(1,2)", True),
    ("90^\\circ", "90", True),
    ("\\text{Evelyn}", "Evelyn", True),
    ("$5$", "5", True),
    ("0.5", "\\frac{1}{2}", False),  # strict does not evaluate
    ("(1,2)", "(2,1)", False),
])
def test_strict_normal_form(a: str, b: str, equal: bool) -> None:
    assert strict_equal(a, b) is equal
    assert (normalise(a) == normalise(b)) is equal


def test_substring_control_reads_the_whole_response() -> None:
    assert substring_match("2", "first 1 + 1 = 2, then \\boxed{5}")  # over-counts, as a control should
    assert not substring_match("\\frac{1}{2}", "\\boxed{0.5}")


# gold, prediction, equivalent under math-verify (gold first)
TABLE = [
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac12", "\\dfrac{1}{2}", True),
    ("\\frac{3}{4}", "0.75", True),
    ("\\frac{1}{3}", "0.333333", True),
    ("\\frac{1}{3}", "0.33", False),
    ("\\frac{2}{3}", "\\frac{3}{2}", False),
    ("(0,1]", "(0, 1]", True),
    ("[0,1]", "(0,1)", False),
    ("(-\\infty, 3)", "(-\\infty,3)", True),
    ("\\{1,2\\}", "\\{2,1\\}", True),
    ("\\{1,2\\}", "\\{1,3\\}", False),
    ("5", "5\\text{ cm}", True),  # units
    ("18", "\\$18", True),
    ("90", "90^\\circ", True),
    ("10\\%", "10", True),
    ("3", "x=3", True),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2", True),
    ("1000", "1,000", True),
    ("2", "3", False),
    ("\\pi", "3.14159265", True),
    ("\\text{Evelyn}", "Evelyn", True),
    ("\\text{Evelyn}", "Bob", False),
]


def _grade_table(g: Grader) -> list[bool]:
    return [g.grade(gold, [(0, f"so \\boxed{{{pred}}}")])["samples"][0]["correct"] for gold, pred, _ in TABLE]


def test_math_verify_table_from_worker_threads(grader: Grader) -> None:
    # math-verify's SIGALRM timeouts refuse any thread but the main one ...
    from math_verify import parse

    err: list[BaseException] = []
    t = threading.Thread(target=lambda: err.append(_catch(lambda: parse("$1$"))))
    t.start()
    t.join()
    assert isinstance(err[0], ValueError) and "signal" in str(err[0])
    # ... the grader works from any thread: two worker threads grade the table at once
    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(lambda half: _grade_table(grader), [0, 1]))
    want = [eq for _, _, eq in TABLE]
    assert results[0] == want and results[1] == want


def _catch(fn) -> BaseException | None:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001
        return e
    return None


def test_one_problem_graded_with_groups(grader: Grader) -> None:
    samples = [(0, "so \\boxed{0.5}"), (1, "The answer is 1/2."), (2, "\\boxed{3}"), (3, "no idea"),
               (4, "\\boxed{\\frac12}"), (5, "\\boxed{3.0}")]
    g = grader.grade("\\frac{1}{2}", samples)
    rows = {s["idx"]: s for s in g["samples"]}
    assert [rows[i]["correct"] for i in range(6)] == [True, True, False, False, True, False]
    assert rows[3]["method"] == "no answer" and rows[3]["answer"] is None
    assert [rows[i]["strict"] for i in range(6)] == [False, False, False, False, True, False]
    # equivalent answers are one group (representative on the gold side), unanswered samples in none
    assert g["groups"]["math-verify"] == [[0, 1, 4], [2, 5]]
    assert g["groups"]["normalised"] == [[0], [1], [2], [4], [5]]
    assert g["error"] is None and g["n"] == 6


def test_sympy_decides_only_where_math_verify_has_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert equivalent("\\frac{1}{2}", "0.5") == (True, "math-verify")
    monkeypatch.setattr(grading, "mv_parse", lambda answer, cache=None: [])  # math-verify finds nothing
    assert equivalent("\\frac{1}{2}", "0.5") == (True, "sympy")
    assert equivalent("x^2 - 1", "(x-1)(x+1)") == (True, "sympy")
    assert equivalent("2", "3") == (False, "sympy")
    monkeypatch.setattr(grading, "sympy_equal", lambda gold, pred: None)  # neither parses
    assert equivalent("\\text{red}", "\\text{ red }") == (True, "normalised")


def test_grade_problem_in_process_matches_the_worker(grader: Grader) -> None:
    samples = [(0, "\\boxed{(0,1]}"), (1, "\\boxed{[0,1]}")]
    assert grade_problem("(0, 1]", samples) == grader.grade("(0, 1]", samples)


def sleepy(gold: str, samples: list) -> dict:
    time.sleep(60)
    return {}


def test_a_hanging_worker_is_killed_and_the_pool_replaced() -> None:
    with Grader(workers=1, limit=lambda n: 2.5, fn=sleepy) as g:
        t0 = time.monotonic()
        out = g.grade("1", [(0, "\\boxed{1}"), (1, "\\boxed{2}")])
        assert time.monotonic() - t0 < 30
        assert "killed" in out["error"] and [s["correct"] for s in out["samples"]] == [False, False]
        g.fn = grade_problem  # the next problem gets a fresh pool
        assert g.grade("1", [(0, "\\boxed{1}")])["samples"][0]["correct"] is True


def test_abort_leaves_the_problem_ungraded() -> None:
    g = Grader(workers=1, limit=lambda n: 60.0, fn=sleepy)
    got: list[BaseException | None] = []
    t = threading.Thread(target=lambda: got.append(_catch(lambda: g.grade("1", [(0, "1")]))))
    t.start()
    time.sleep(2)
    g.abort()
    t.join(30)
    assert not t.is_alive() and isinstance(got[0], GradingAborted)
    with pytest.raises(GradingAborted):
        g.grade("1", [(0, "1")])

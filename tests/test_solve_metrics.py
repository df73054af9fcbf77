"""The informal metrics against hand computations and brute force: answer groups, majority, consensus
rate, maj@k, consensus pass@k (exact, checked over every k-subset), selected pass@k."""

from __future__ import annotations

import itertools
import random

import pytest

from bridge.informal.metrics import (
    Group,
    ProblemResult,
    consensus_pass_at_k,
    group_answers,
    majority,
    rank_by_score,
    selected_at_k,
    summary,
)


def test_groups_by_equivalence_in_order_of_first_appearance() -> None:
    same = lambda rep, a: {rep, a} <= {"1/2", "0.5", "\\frac12"}  # noqa: E731
    answers = [(0, "0.5"), (1, "3"), (2, None), (3, "1/2"), (4, "3"), (5, "\\frac12"), (6, "7")]
    assert group_answers(answers, same) == [[0, 3, 5], [1, 4], [6]]
    calls: list[tuple[str, str]] = []
    group_answers([(0, "a"), (1, "a"), (2, "A")], lambda r, a: calls.append((r, a)) or False, key=str.lower)
    assert calls == []  # one normal form: no equivalence asked


def _brute(labels: list[int | None], correct: set[int], k: int, rank: dict[int, int]) -> float:
    """Over every k-subset: the winner is the most voted group, ties to the best rank."""
    wins = 0
    subsets = list(itertools.combinations(range(len(labels)), k))
    for sub in subsets:
        votes: dict[int, int] = {}
        for i in sub:
            if labels[i] is not None:
                votes[labels[i]] = votes.get(labels[i], 0) + 1
        if votes:
            best = max(votes, key=lambda g: (votes[g], -rank[g]))
            wins += best in correct
    return wins / len(subsets)


def test_consensus_pass_at_k_is_exact() -> None:
    rng = random.Random(7)
    for _ in range(60):
        n = rng.randint(1, 7)
        labels = [rng.choice([0, 1, 2, None]) for _ in range(n)]
        order = list(dict.fromkeys(x for x in labels if x is not None))  # groups by first appearance
        rank = {g: i for i, g in enumerate(order)}
        correct = {g for g in order if rng.random() < 0.5}
        sizes = [labels.count(g) for g in order]
        for k in range(1, n + 1):
            got = consensus_pass_at_k(sizes, [g in correct for g in order], labels.count(None), k)
            assert got == pytest.approx(_brute(labels, correct, k, rank))


def test_consensus_at_the_ends() -> None:
    # k = 1: the share of correct samples (pass@1); k = n: the majority of all, ties to the first seen
    assert consensus_pass_at_k([2, 2], [False, True], 1, 1) == pytest.approx(2 / 5)
    assert consensus_pass_at_k([2, 2], [False, True], 1, 5) == 0.0
    assert consensus_pass_at_k([2, 2], [True, False], 1, 5) == 1.0
    assert consensus_pass_at_k([1, 3], [False, True], 0, 4) == 1.0


def test_selected_pass_at_k_brute_force() -> None:
    ranked = [False, True, False, True, True]
    for k in range(1, 6):
        subsets = list(itertools.combinations(range(5), k))
        want = sum(ranked[min(s)] for s in subsets) / len(subsets)  # the best-ranked of the drawn
        assert selected_at_k(ranked, k) == pytest.approx(want)
    assert rank_by_score({0: 0.1, 1: 0.9, 2: 0.9}, {0: True, 1: False, 2: True, 3: True}) == [False, True, True, True]


def test_summary_equals_hand_computations() -> None:
    g = lambda members, ans, ok: Group(tuple(members), ans, ok)  # noqa: E731
    rows = [
        # 4 samples: 0.5, 1/2 (one group, correct), 3, none -> c=2, majority correct, consensus 2/4
        ProblemResult("p1", "test", "simple", 4, 2, [g([0, 1], "0.5", True), g([2], "3", False)],
                      {"prm:m:min": [True, False, True, False]}),
        # 3, 4, 4, 3: a tie, the first seen (3, correct) wins; consensus 2/4
        ProblemResult("p2", "test", "simple", 4, 2, [g([0, 3], "3", True), g([1, 2], "4", False)],
                      {"prm:m:min": [False, False, True, True]}),
        # (0,1] once, [0,1] three times: majority wrong; consensus 3/4
        ProblemResult("p3", "test", "advanced", 4, 1, [g([0], "(0,1]", True), g([1, 2, 3], "[0,1]", False)],
                      {"prm:m:min": [True, False, False, False]}),
    ]
    s = summary(rows, [1, 4], 4)
    assert s["pass_at_k"] == {"1": pytest.approx((2 / 4 + 2 / 4 + 1 / 4) / 3), "4": 1.0}
    assert s["maj_at_k"] == {"4": pytest.approx(2 / 3)}
    assert s["consensus_rate"] == pytest.approx((2 / 4 + 2 / 4 + 3 / 4) / 3)
    assert s["consensus_pass_at_k"] == {"1": pytest.approx(5 / 12), "4": pytest.approx(2 / 3)}
    assert s["selected_pass_at_k"]["majority"] == s["consensus_pass_at_k"]
    # best of 4 by the PRM: p1 top correct, p2 top wrong, p3 top correct
    assert s["selected_pass_at_k"]["prm:m:min"]["4"] == pytest.approx(2 / 3)
    assert s["selected_pass_at_k"]["prm:m:min"]["1"] == pytest.approx(5 / 12)
    assert (s["problems"], s["solved"]) == (3, 3)
    assert majority([g([0], "a", False), g([1], "b", True)]).answer == "a"
    assert ProblemResult("p", "t", None, 0, 0, []).consensus == 0.0

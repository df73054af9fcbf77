"""The informal side: problems with answers, CoT and tool-integrated solving, answer grading, maj@k and
consensus metrics, step scores from a process reward model, and rejection-sampling (RFT) data.

Pure decisions (extraction, equivalence groups, metrics, aggregation) live in ``extract``, ``metrics``,
``tir`` and ``prm``; I/O at the edges (``datasets``, ``store``, ``grading``'s worker pool, the sandboxed
code runner, ``report``). The solving loop is ``provers/solve.py``.
"""

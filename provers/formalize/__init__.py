"""Autoformalization (``bridge formalize``): informal statements -> candidate Lean statements -> a funnel
of checks, cheapest first, each decision recorded with its reason (``stages.py``), run over a run store
(``funnel.py``) and reported per stage (``report.py``). ``statement.py`` reads Lean statements;
``prompts.py`` holds the formalizer, back-translation and judge prompts (``provers/templates/formalize/``).
"""

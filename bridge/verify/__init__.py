"""Deciding: candidates, the static screen, verdicts, the soundness gate, the result cache."""

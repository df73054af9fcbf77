"""Training: verified proofs -> SFT data (``data``), LoRA SFT (``sft``), adapter merge (``merge``), model
card (``card``), the expert-iteration loop (``iterate``), its canaries (``canary``) and per-round table
(``rounds``). Each job has a ``*Config`` dataclass beside it, as trl does."""

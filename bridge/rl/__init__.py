"""Reinforcement learning with the Lean verdict as the reward.

* :func:`make_lean_reward` -> a reward function with trl's GRPOTrainer signature (async; proved 1.0,
  failed / incomplete / rejected 0.0, timeout / crashed None);
* :mod:`bridge.rl.verl_reward` -> verl's ``compute_score``;
* :mod:`bridge.rl.grpo` -> ``bridge rl grpo`` (trl's GRPOTrainer with a LoRA adapter; needs the ``ml`` extra).

Importing this package needs no machine-learning library.
"""

from bridge.rl.reward import LeanReward, make_lean_reward
from bridge.rl.service import VerifierService
from bridge.rl.shaping import ShapingConfig, format_ok, lean_reward, shape

__all__ = ["LeanReward", "ShapingConfig", "VerifierService", "format_ok", "lean_reward", "make_lean_reward", "shape"]

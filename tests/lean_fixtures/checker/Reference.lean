/-
The trusted reference for `bridge_target`: the statement with a `sorry` proof, as the dataset gives it.
The checker reads only its import list and its constants' types and kinds.
-/
theorem bridge_target (n : Nat) : n + 0 = n := by
  sorry

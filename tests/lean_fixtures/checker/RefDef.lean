/-
A reference whose statement uses a definition of its own module (as a dataset header's `def` does): S1
compares that definition too (kind, universe parameters, type and value), not only the target's type.
-/
def bridge_double (n : Nat) : Nat := n + n

theorem bridge_target (n : Nat) : bridge_double n = n + n := by
  sorry

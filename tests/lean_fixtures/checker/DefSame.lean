/- The reference's definition, unchanged, and a proof of the reference's statement: accepted. -/
def bridge_double (n : Nat) : Nat := n + n

theorem bridge_target (n : Nat) : bridge_double n = n + n := by
  unfold bridge_double
  rfl

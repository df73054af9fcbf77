/- An honest proof of the reference's statement: the checker accepts it (type matches, kernel replay passes). -/
theorem bridge_target (n : Nat) : n + 0 = n := by
  simp

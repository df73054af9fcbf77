/- A proof of a different statement under the reference's name: the checker reports `type_matches: false`. -/
theorem bridge_target (n : Nat) : 0 + n = n := by
  simp

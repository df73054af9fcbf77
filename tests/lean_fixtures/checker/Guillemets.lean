/- S5: `«bridge_target.x»` is one name component; `--target bridge_target.x` (two) must not resolve to it. -/
theorem «bridge_target.x» (n : Nat) : n + 0 = n := by
  simp

theorem bridge_target (n : Nat) : n + 0 = n := by
  simp

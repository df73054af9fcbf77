/- S4: a candidate constant in the `Quot` namespace (only `Init.Core` declares there): refused. -/
theorem Quot.bridge_extra : True := trivial

theorem bridge_target (n : Nat) : n + 0 = n := by
  simp

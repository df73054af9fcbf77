/-
The reference's statement "proved" from an axiom the module adds. The kernel accepts the axiom, so replay
passes; the checker lists `bridge_cheat` among the target's axioms and the Python side's allow-list rejects it.
-/
axiom bridge_cheat : ∀ n : Nat, n + 0 = n

theorem bridge_target (n : Nat) : n + 0 = n :=
  bridge_cheat n

/-
The target's type is the reference's, expression for expression (`bridge_double n = n + n`), but the
definition it uses has another value, as a candidate-written .olean could have it: S1 rejects it
(comparing the target's type alone would accept it).
-/
def bridge_double (n : Nat) : Nat := 2 * n

theorem bridge_target (n : Nat) : bridge_double n = n + n := by
  unfold bridge_double
  omega

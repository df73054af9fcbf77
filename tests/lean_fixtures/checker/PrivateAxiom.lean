/-
S2: an axiom of the candidate's own whose name prints as `propext` (a private name: `_private.….propext`,
shown as `propext` by the pretty printer). Compared as a `Name`, it is not the allowed `propext`, and it is
not imported from a module: the checker refuses it at stage `axioms`.
-/
private axiom propext : False

theorem bridge_target (n : Nat) : n + 0 = n :=
  False.elim propext

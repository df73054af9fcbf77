/-
S3: a runtime-only import (v4.9.0 `importModulesCore` skips `runtimeOnly` imports: it loads nothing). The
checker refuses the module when it reads it.
-/
import runtime Lean

theorem bridge_target (n : Nat) : n + 0 = n := by
  simp

import Lake
open Lake DSL

/-!
The Lean half of `bridge`.

Pinned to Lean v4.9.0 (see `lean-toolchain`): DeepSeek-Prover-V1.5/V2, Goedel-Prover V1/V2 and STP were
trained and evaluated there, and the miniF2F/ProofNet statements use its syntax (`∑ k in s`).
Mathlib and the REPL are pinned to the revisions made for that toolchain. `bridge setup --lean VERSION`
writes a second workspace like this one for a newer Lean.
-/

package bridge where
  leanOptions := #[⟨`autoImplicit, false⟩]

require mathlib from git
  "https://github.com/leanprover-community/mathlib4" @ "v4.9.0"

require REPL from git
  "https://github.com/leanprover-community/repl" @ "v4.9.0"

-- lean4checker replays a module's declarations in the kernel: the `--strict` gate.
require lean4checker from git
  "https://github.com/leanprover/lean4checker" @ "v4.9.0"

@[default_target]
lean_lib Bridge where
  srcDir := "lean_project"

-- The trusted kernel checker (`lean_project/Bridge/Check.lean`): reads a candidate's .olean, imports its
-- imports, replays its constants through the kernel (as lean4checker does), compares target statements
-- with a reference .olean and prints one JSON line. Build with `lake build bridge-check`.
lean_exe «bridge-check» where
  srcDir := "lean_project"
  root := `Bridge.Check
  supportInterpreter := true

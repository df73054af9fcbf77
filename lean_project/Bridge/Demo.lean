/-!
A smoke test for a fresh workspace: `lake build` elaborates this file with Lean core alone, and
`bridge doctor` reports whether it built. The `demo` dataset's statements are of this kind.
-/
namespace Bridge.Demo

theorem add_zero_demo (n : Nat) : n + 0 = n := by
  omega

theorem two_add_two : 2 + 2 = 4 := by
  decide

end Bridge.Demo

/-
S4: a `prelude` module imports nothing, so `Quot` could not come from an import (`finalizeImport` would
still set `quotInit`): refused before anything is imported.
-/
prelude

theorem bridge_target : ∀ (p : Prop), p → p := fun _ h => h

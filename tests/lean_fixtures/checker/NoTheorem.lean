/- F1: a module with no theorem: `--all-theorems` finds no target, which is a rejection. -/
def bridge_target_value : Nat := 2

/-
An environment hack in the way of lean4checker's `Lean4CheckerTests/AddFalse.lean` (tag v4.9.0): a command
puts a theorem `bridge_forged_false : False` whose value is `False` (a `Prop`, not a proof of `False`) straight
into `Environment.constants`, bypassing the kernel, and `bridge_target` is proved from it. `lean` compiles this
(the kernel only ever sees `bridge_target`, whose proof is fine given that constant); replaying the module's
constants through the kernel must fail with `(kernel) declaration type mismatch`.

lean4checker reaches the private constructor `Lean.Environment.mk` with `open private mk from
Lean.Environment` (its own `OpenPrivate.lean`); to stay Lean-core-only this file does the same thing by hand:
it finds the private constant whose user name is `Lean.Environment.mk` and adds an
`OpenDecl.explicit` for it to the scope, as `elabOpenPrivateLike` in that file does. The constructor's
arguments (`const2ModIdx constants extensions extraConstNames header`) are the ones AddFalse passes at v4.9.0.
-/
import Lean

open Lean Elab Command

elab "bridge_open_environment_mk" : command => do
  let env ← getEnv
  let found := env.const2ModIdx.fold (fun acc n _ =>
    if privateToUserName? n == some `Lean.Environment.mk then n :: acc else acc) []
  match found with
  | [priv] =>
    modifyScope fun scope => { scope with openDecls := OpenDecl.explicit `bridgeEnvMk priv :: scope.openDecls }
  | _ => throwError "expected one private constant named Lean.Environment.mk, found {found}"

bridge_open_environment_mk

elab "bridge_add_false" : command => do
  modifyEnv fun env =>
    let constants := env.constants.insert `bridge_forged_false <| ConstantInfo.thmInfo
      { name := `bridge_forged_false, levelParams := [], type := .const ``False [], value := .const ``False [] }
    bridgeEnvMk env.const2ModIdx constants env.extensions env.extraConstNames env.header

bridge_add_false

theorem bridge_target (n : Nat) : n + 0 = n :=
  False.elim bridge_forged_false

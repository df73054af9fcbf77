/-
`bridge-check`: the trusted kernel checker of `bridge` (Lean v4.9.0).

    LEAN_ABORT_ON_PANIC=1 bridge-check --olean CANDIDATE.olean [--reference REFERENCE.olean]
        [--target NAME]... [--all-theorems] [--allow-axiom NAME]...

It never elaborates a command and never imports the candidate module: it reads the candidate's `.olean`
with `readModuleData` (by the given path, the search path is never searched for the candidate), imports
the candidate's *imports* only, and replays the candidate's own constants through the kernel with
`Environment.replay`. This is what lean4checker's `replayFromImports` does at tag v4.9.0
(github.com/leanprover/lean4checker, `Main.lean` at v4.9.0):

    let (mod, region) ← readModuleData mFile
    let (_, s) ← importModulesCore mod.imports
      |>.run (s := { moduleNameSet := ({} : NameHashSet).insert module })
    let env ← finalizeImport s #[{module}] {} 0
    let mut newConstants := {}
    for name in mod.constNames, ci in mod.constants do
      newConstants := newConstants.insert name ci
    let env' ← env.replay newConstants

The calls below are those calls, in that order, with those arguments (their v4.9.0 signatures are the ones
lean4checker v4.9.0 compiles against; the stored `src/Lean/Environment.lean` of that era shows
`readModuleData (fname : @& System.FilePath) : IO (ModuleData × CompactedRegion)`,
`importModulesCore (imports : Array Import) : ImportStateM Unit`, `ImportStateM := StateRefT ImportState IO`,
`finalizeImport (s : ImportState) (imports : Array Import) (opts : Options) (trustLevel : UInt32 := 0)
(leakEnv := false) : IO Environment`, `ModuleData` with `imports : Array Import`, `constNames : Array Name`,
`constants : Array ConstantInfo`, `structure Import where module : Name; runtimeOnly : Bool := false`, and
`Environment.getModuleIdxFor? (env) (declName : Name) : Option ModuleIdx := env.const2ModIdx.find? declName`).

The `.olean` is read as bytes the candidate may have written (code that runs while `lean` compiles it can
write that file and exit 0), so nothing in it is taken on trust beyond what is checked here:

* S1: every constant of the reference module that the target's type uses, transitively through types and
  values (a header's definitions, `foo.match_1`, `foo.proof_1`), is compared with the candidate's constant of
  that name: kind, universe parameters, type and value, as leanprover/comparator's `Compare.lean` does
  (its worklist over `runForUsedConsts`; the target itself: kind, universe parameters and type only);
* S2: axioms are compared as `Name`s here (`Name.beq` is `lean_name_eq`, which compares the stored hashes
  first: a name with a forged hash never equals the real one), only the `--allow-axiom` names are allowed,
  and each must be imported from a module (`getModuleIdxFor?`), never declared by the candidate; every
  constant's stored name must equal the name it is filed under (`finalizeImport` and `replay` key
  constants by `constNames`, not by `ConstantInfo.name`), and every name must carry its honest hash;
* S3: a `runtimeOnly` import is refused (v4.9.0 `importModulesCore` skips it: it loads nothing, and the
  candidate could supply its own `Real`);
* S4: `finalizeImport` sets `quotInit := !imports.isEmpty` from the import list it is given (lean4checker
  gives `#[{module}]`, never empty), so the kernel believes `Quot` initialised whatever was imported:
  `Quot` must come from an import (it is declared by `init_quot` in `Init.Core`), and a candidate constant
  in `Quot` or of kind `quotInfo` is refused;
* S5: a `--target` is parsed into a `Name` (dots split components outside `«»`) and must be exactly one of
  the candidate's constants (`«foo.bar»` is one component and never resolves to `foo.bar`);
* F1: no target (none named, or `--all-theorems` finding none) is a rejection;
* F2: v4.9.0 `Lean.Replay` uses `find!`/`unreachable!`, which panic and go on with a default value unless
  `LEAN_ABORT_ON_PANIC` is set: the checker refuses to run without `LEAN_ABORT_ON_PANIC=1` (a panic then
  aborts with no JSON line, which the Python side reads as a failure).

No candidate code runs: imported modules' `[init]` declarations only run after
`enableInitializersExecution`, which this program never calls, and the candidate itself is not imported,
so none of its attributes, environment extensions or elaborators exist here.

Output: exactly one JSON line on stdout (everything Lean might print to stdout while checking is sent to
stderr instead), then the exit status: 0 ok, 1 rejected, 2 usage error.

    {"ok": .., "stage": "args"|"read"|"import"|"replay"|"reference"|"target"|"axioms"|"done", "error": null | "..",
     "imports": [..], "targets": [{"name": .., "kind": .., "axioms": [..], "type_matches": true|false|null}]}

Compacted regions are NOT freed (lean4checker frees them with `env'.freeRegions` and `region.free`):
this process prints its line and exits at once, so the OS unmaps them anyway, and freeing them is only
sound when no live reference into them remains (the doc comment of `Environment.freeRegions` in
`src/Lean/Environment.lean`). A `dec` emitted by the compiler after the free would touch unmapped memory,
and a segfault after the JSON line would turn exit status 0/1 into 139, which the Python client reads.
lean4checker needs to free because it checks every module of a search path in one process.
-/
import Lean.CoreM
import Lean.Replay
import Lean.Util.CollectAxioms
import Lean.Util.FoldConsts
import Lean.Util.Path
import Lean.Data.Json

open Lean

namespace Bridge.Check

/-- The command line. -/
structure Args where
  olean : Option System.FilePath := none
  reference : Option System.FilePath := none
  targets : Array String := #[]
  allTheorems : Bool := false
  allowAxioms : Array String := #[]

def usage : String :=
  "usage: LEAN_ABORT_ON_PANIC=1 bridge-check --olean CANDIDATE.olean [--reference REFERENCE.olean] " ++
  "[--target NAME]... [--all-theorems] [--allow-axiom NAME]..."

def parseArgs : List String → Args → Except String Args
  | [], a => .ok a
  | "--olean" :: p :: rest, a =>
    if a.olean.isSome then .error "--olean given twice"
    else parseArgs rest { a with olean := some (System.FilePath.mk p) }
  | "--reference" :: p :: rest, a =>
    if a.reference.isSome then .error "--reference given twice"
    else parseArgs rest { a with reference := some (System.FilePath.mk p) }
  | "--target" :: n :: rest, a => parseArgs rest { a with targets := a.targets.push n }
  | "--allow-axiom" :: n :: rest, a => parseArgs rest { a with allowAxioms := a.allowAxioms.push n }
  | "--all-theorems" :: rest, a => parseArgs rest { a with allTheorems := true }
  | arg :: _, _ => .error s!"unexpected or incomplete argument '{arg}'"

/-- What is printed, built up stage by stage. -/
structure Report where
  ok : Bool := false
  stage : String := "args"
  error : Option String := none
  imports : Array String := #[]
  targets : Array Json := #[]

/-- `some x` as `f x`, `none` as JSON `null`. -/
def optJson {α : Type} (f : α → Json) : Option α → Json
  | some x => f x
  | none => Json.null

/-- `Lean.Json` (`src/Lean/Data/Json/Basic.lean`: constructors `null`, `bool`, `str`, `arr`, and `Json.mkObj`). -/
def Report.render (r : Report) : Json :=
  Json.mkObj [
    ("ok", Json.bool r.ok),
    ("stage", Json.str r.stage),
    ("error", optJson Json.str r.error),
    ("imports", Json.arr (r.imports.map Json.str)),
    ("targets", Json.arr r.targets)]

/-- The kinds of `ConstantInfo` (`src/Lean/Declaration.lean`: `axiomInfo defnInfo thmInfo opaqueInfo
quotInfo inductInfo ctorInfo recInfo`) the Python side tells apart. -/
def kindOf : ConstantInfo → String
  | .thmInfo _ => "theorem"
  | .defnInfo _ => "def"
  | .axiomInfo _ => "axiom"
  | .opaqueInfo _ => "opaque"
  | .quotInfo _ => "quot"
  | .inductInfo _ => "inductive"
  | .ctorInfo _ => "constructor"
  | .recInfo _ => "recursor"

/-- `n` rebuilt from its components. `Name`'s hash is a computed field (`src/Init/Prelude.lean`:
`Name.str`/`Name.num` compute it from the prefix's hash), so this is `n` with honest hashes; an `.olean`
written by hand can store any hash, and `Name.beq` (`lean_name_eq`) trusts stored hashes. -/
def rehash : Name → Name
  | .anonymous => .anonymous
  | .str p s => .str (rehash p) s
  | .num p k => .num (rehash p) k

def honest (n : Name) : Bool := rehash n == n

/-- S5: a `--target` as a `Name`: components split at dots outside `«»`, guillemets dropped (the
escaping `Name.toString` writes). `none` for an empty component or an unclosed `«`. Never
`String.toName`, which splits `«foo.bar»` at its dot. -/
def parseTarget (s : String) : Option Name := Id.run do
  let mut parts : Array String := #[]
  let mut cur : String := ""
  let mut inside := false
  for c in s.toList do
    if inside then
      if c == '»' then inside := false else cur := cur.push c
    else if c == '«' then
      inside := true
    else if c == '.' then
      parts := parts.push cur
      cur := ""
    else
      cur := cur.push c
  if inside then
    return none
  parts := parts.push cur
  if parts.any (·.isEmpty) then
    return none
  return some (parts.foldl (fun n p => Name.mkStr n p) Name.anonymous)

/-- The axioms `n` depends on in `env`, as `#print axioms` finds them: Lean v4.9.0
`src/Lean/Util/CollectAxioms.lean` has `CollectAxioms.M := ReaderT Environment $ StateM State`, `State`
with `axioms : Array Name`, and `collectAxioms` runs it as `((CollectAxioms.collect constName).run env).run {}`. -/
def axiomsOf (env : Environment) (n : Name) : Array Name :=
  let (_, s) := Id.run (((CollectAxioms.collect n).run env).run {})
  s.axioms

def sortedStrings (ns : Array Name) : Array String :=
  (ns.map toString).qsort (fun a b => decide (a < b))

/-- S2: what is wrong with the axioms `axs` of target `t`: each must be an allowed `Name` (compared as
names), carry an honest hash, be an axiom of `env` filed under its own name, and be imported from a
module (`getModuleIdxFor?`): an axiom the candidate declares is never accepted, whatever it prints as. -/
def axiomProblems (env : Environment) (allowed : Array Name) (t : String) (axs : Array Name) : Array String :=
  axs.filterMap fun a =>
    if !honest a then
      some s!"target '{t}' depends on a constant whose name '{a}' carries a forged hash"
    else if !allowed.contains a then
      some s!"target '{t}' depends on axiom '{a}', which is not allowed"
    else if (env.getModuleIdxFor? a).isNone then
      some s!"target '{t}' depends on axiom '{a}', which is declared by the candidate, not imported from a module"
    else match env.find? a with
      | some (.axiomInfo v) =>
        if v.name == a then none else some s!"axiom '{a}' is stored under another name ('{v.name}')"
      | _ => some s!"'{a}' is not an axiom of the imported environment"

def targetJson (name kind : String) (axioms : Array Name) (typeMatches : Option Bool) : Json :=
  Json.mkObj [
    ("name", Json.str name),
    ("kind", Json.str kind),
    ("axioms", Json.arr ((sortedStrings axioms).map Json.str)),
    ("type_matches", optJson Json.bool typeMatches)]

/-- The constant of module data `mod` called `n`, looked up in the module's own arrays. -/
def findIn (mod : ModuleData) (n : Name) : Option ConstantInfo := Id.run do
  for c in mod.constNames, ci in mod.constants do
    if c == n then
      return some ci
  return none

/-- S5: the candidate's own constant that a `--target` string names, exactly (`parseTarget`). -/
def resolveTarget (mod : ModuleData) (t : String) : Option Name := do
  let n ← parseTarget t
  if mod.constNames.contains n then some n else none

/-- The constants a constant mentions, in its type and its value (`Expr.getUsedConstants` of
`src/Lean/Util/FoldConsts.lean`; what comparator's `runForUsedConsts` visits): an inductive also
mentions its constructors, a constructor its inductive, a recursor its rules' right-hand sides. -/
def valueConsts : ConstantInfo → Array Name
  | .defnInfo v => v.value.getUsedConstants
  | .thmInfo v => v.value.getUsedConstants
  | .opaqueInfo v => v.value.getUsedConstants
  | .inductInfo v => v.ctors.toArray ++ v.all.toArray
  | .ctorInfo v => #[v.induct]
  | .recInfo v => v.rules.foldl (fun acc r => acc ++ r.rhs.getUsedConstants) v.all.toArray
  | _ => #[]

def usedConsts (ci : ConstantInfo) : Array Name :=
  ci.type.getUsedConstants ++ valueConsts ci

/-- Name, universe parameters and type (`ConstantVal`, which every `*Val` of `src/Lean/Declaration.lean`
extends), compared with `Expr`'s `BEq` (`Expr.eqv`: structural, binder names and info ignored). -/
def sameBase (a b : ConstantInfo) : Bool :=
  a.name == b.name && a.levelParams == b.levelParams && a.type == b.type &&
    a.isUnsafe == b.isUnsafe && a.isPartial == b.isPartial

/-- S1: two constants are the same declaration: kind, universe parameters, type and value, and the
fields of an inductive, constructor or recursor that the kernel reads (written out field by field, not
with a derived `BEq`: the instances differ between Lean versions). `quotInfo` never matches here: the
reference module and the candidate both get `Quot` from `Init.Core`. -/
def sameConst (a b : ConstantInfo) : Bool :=
  sameBase a b && match a, b with
    | .axiomInfo _, .axiomInfo _ => true
    | .defnInfo x, .defnInfo y => x.value == y.value
    | .thmInfo x, .thmInfo y => x.value == y.value
    | .opaqueInfo x, .opaqueInfo y => x.value == y.value
    | .inductInfo x, .inductInfo y =>
      x.numParams == y.numParams && x.numIndices == y.numIndices && x.all == y.all && x.ctors == y.ctors &&
        x.isRec == y.isRec && x.isReflexive == y.isReflexive
    | .ctorInfo x, .ctorInfo y =>
      x.induct == y.induct && x.cidx == y.cidx && x.numParams == y.numParams && x.numFields == y.numFields
    | .recInfo x, .recInfo y =>
      x.all == y.all && x.numParams == y.numParams && x.numIndices == y.numIndices &&
        x.numMotives == y.numMotives && x.numMinors == y.numMinors && x.k == y.k &&
        x.rules.length == y.rules.length &&
        (x.rules.zip y.rules).all fun (r, s) => r.ctor == s.ctor && r.nfields == s.nfields && r.rhs == s.rhs
    | _, _ => false

/-- S1: the reference module's constants that the target's type uses, transitively (comparator's
`Compare.loop`): each must be the candidate's constant of that name, the same declaration
(`sameConst`), and in the replayed environment; a constant that is not the reference module's must be
imported in the candidate's environment too. -/
def closureProblems (env : Environment) (mod refMod : ModuleData) (target : Name) (rtype : Expr) :
    Array String := Id.run do
  let mut work : Array Name := rtype.getUsedConstants
  let mut seen : NameSet := ({} : NameSet).insert target
  let mut problems : Array String := #[]
  let mut fuel : Nat := 1000000
  while !work.isEmpty do
    if fuel == 0 then
      return problems.push s!"the reference statement of '{target}' uses too many constants to compare"
    fuel := fuel - 1
    let n := work[work.size - 1]!
    work := work.pop
    if seen.contains n then
      continue
    seen := seen.insert n
    match findIn refMod n with
    | none =>
      if (env.getModuleIdxFor? n).isNone then
        problems := problems.push s!"'{n}', used by the reference statement of '{target}', is not imported by the candidate"
    | some rci =>
      match findIn mod n, env.find? n with
      | some ci, some _ =>
        if (env.getModuleIdxFor? n).isSome then
          problems := problems.push s!"'{n}' of the reference module is an imported constant for the candidate"
        else if !sameConst rci ci then
          problems := problems.push s!"'{n}', used by the reference statement of '{target}', differs from the reference's (kind, universe parameters, type or value)"
        else
          work := work ++ usedConsts rci
      | _, _ =>
        problems := problems.push s!"'{n}', used by the reference statement of '{target}', is not a replayed constant of the candidate"
  return problems

/-- Judge one target in the replayed environment: its JSON entry and axioms (when found) and what is
wrong with its statement. -/
def judgeTarget (env : Environment) (mod : ModuleData) (refMod? : Option ModuleData) (t : String) :
    Option (Name × Array Name × Json) × Array String := Id.run do
  let some n := resolveTarget mod t
    | return (none, #[s!"target '{t}' is not a declaration of the candidate module"])
  let some ci := env.find? n
    | return (none, #[s!"target '{t}' is not in the replayed environment (unsafe and partial declarations are not replayed)"])
  if (env.getModuleIdxFor? n).isSome then
    return (none, #[s!"target '{t}' is an imported constant"])
  let kind := kindOf ci
  let mut problems : Array String := #[]
  let mut typeMatches : Option Bool := none
  if let some refMod := refMod? then
    match findIn refMod n with
    | none =>
      problems := problems.push s!"target '{t}' is not declared in the reference module"
      typeMatches := some false
    | some rci =>
      let sameType := rci.name == ci.name && rci.levelParams == ci.levelParams && rci.type == ci.type
      unless kindOf rci == kind do
        problems := problems.push s!"target '{t}' is a {kind} but the reference declares a {kindOf rci}"
      unless sameType do
        problems := problems.push s!"the type (statement) of target '{t}' differs from the reference's"
      let closure := if sameType then closureProblems env mod refMod n rci.type else #[]
      problems := problems ++ closure
      typeMatches := some (sameType && closure.isEmpty)
  let axs := axiomsOf env n
  return (some (n, axs, targetJson t kind axs typeMatches), problems)

def setStage (rep : IO.Ref Report) (stage : String) : IO Unit :=
  rep.modify fun r => { r with stage := stage }

/-- The module name the candidate is imported under in lean4checker's `moduleNameSet`: its file's stem.
(`lean -R DIR -o DIR/M.olean DIR/M.lean` names the module `M`.) -/
def moduleNameOf (olean : System.FilePath) : Name :=
  match olean.fileStem with
  | some stem => stem.toName
  | none => `_bridge_candidate

/-- S2, S3, S4 on the module data, before anything is imported or replayed. -/
def moduleProblems (mod : ModuleData) (what : String) : Array String := Id.run do
  let mut problems : Array String := #[]
  if mod.constNames.size != mod.constants.size then
    problems := problems.push s!"the {what} module lists {mod.constNames.size} names for {mod.constants.size} constants"
  for i in mod.imports do
    if i.runtimeOnly then
      problems := problems.push s!"the {what} module has a runtime-only import of {i.module} (it would load nothing)"
  for c in mod.constNames, ci in mod.constants do
    if !honest c then
      problems := problems.push s!"the {what} module's constant '{c}' carries a forged name hash"
    else if ci.name != c then
      problems := problems.push s!"the {what} module files constant '{ci.name}' under the name '{c}'"
    else if (`Quot).isPrefixOf c then
      problems := problems.push s!"the {what} module declares '{c}' in `Quot` (only `Init.Core` may)"
    else if ci matches .quotInfo _ then
      problems := problems.push s!"the {what} module declares the quotient constant '{c}'"
  return problems

def throwAll (problems : Array String) : IO Unit := do
  unless problems.isEmpty do
    throw <| IO.userError ("; ".intercalate problems.toList)

/-- The stages; any exception leaves `rep.stage` at the stage that threw. -/
unsafe def check (a : Args) (olean : System.FilePath) (rep : IO.Ref Report) : IO Unit := do
  setStage rep "read"
  let (mod, _region) ← readModuleData olean
  let imports := mod.imports.map (·.module)
  rep.modify fun r => { r with imports := imports.map toString }
  throwAll (moduleProblems mod "candidate")

  setStage rep "import"
  -- A module without imports is a `prelude` module; refuse it (S4: `Quot` must come from an import).
  if mod.imports.isEmpty then
    throw <| IO.userError "the candidate module has no imports (prelude modules are not accepted)"
  -- lean4checker: `initSearchPath (← findSysroot)`; `findSysroot` is `$LEAN_SYSROOT`, else the output of
  -- `lean --print-prefix`, and `initSearchPath` puts `$LEAN_PATH` before `<sysroot>/lib/lean`
  -- (`src/Lean/Util/Path.lean`).
  initSearchPath (← findSysroot)
  let modName := moduleNameOf olean
  let (_, s) ← importModulesCore mod.imports
    |>.run (s := { moduleNameSet := ({} : NameHashSet).insert modName })
  let env ← finalizeImport s #[{ module := modName }] {} 0
  -- S4: `quotInit` is true here whatever was imported; the quotient must really be there, from a module.
  match env.find? `Quot, env.getModuleIdxFor? `Quot with
  | some (.quotInfo _), some _ => pure ()
  | _, _ => throw <| IO.userError "`Quot` is not imported (it is declared in Init.Core): the kernel's quotient would be the candidate's"

  setStage rep "replay"
  let mut newConstants := {}
  for c in mod.constNames, ci in mod.constants do
    newConstants := newConstants.insert c ci
  -- `Lean.Environment.replay` (`src/Lean/Replay.lean`): sends every definition, theorem, axiom, opaque,
  -- inductive and quotient to the kernel and checks constructors and recursors against the ones the kernel
  -- generates; kernel errors come back as `IO.userError`. Unsafe and partial constants are skipped.
  let env' ← env.replay newConstants

  let mut refMod? : Option ModuleData := none
  if let some refPath := a.reference then
    setStage rep "reference"
    let (refMod, _refRegion) ← readModuleData refPath
    throwAll (moduleProblems refMod "reference")
    let refImports := refMod.imports.map (·.module)
    unless refImports == imports do
      throw <| IO.userError s!"the candidate imports {imports} but the reference imports {refImports}"
    refMod? := some refMod

  setStage rep "target"
  if a.targets.isEmpty && !a.allTheorems then
    throw <| IO.userError "no target was named (--target or --all-theorems): there is nothing to check"
  let mut problems : Array String := #[]
  let mut entries : Array Json := #[]
  let mut checked : Array (String × Array Name) := #[]
  let mut seen : Array Name := #[]
  for t in a.targets do
    let (entry?, ps) := judgeTarget env' mod refMod? t
    problems := problems ++ ps
    if let some (n, axs, j) := entry? then
      unless seen.contains n do
        seen := seen.push n
        entries := entries.push j
        checked := checked.push (t, axs)
  if a.allTheorems then
    for n in mod.constNames do
      unless seen.contains n do
        if let some (.thmInfo _) := env'.find? n then
          if (env'.getModuleIdxFor? n).isNone then
            seen := seen.push n
            let axs := axiomsOf env' n
            entries := entries.push (targetJson n.toString "theorem" axs none)
            checked := checked.push (n.toString, axs)
  rep.modify fun r => { r with targets := entries }
  if entries.isEmpty && problems.isEmpty then
    problems := problems.push "no target was found in the candidate module: there is nothing to check"
  throwAll problems

  setStage rep "axioms"
  -- S2: the allowed axioms as names (`String.toName` is exact for the dotted ASCII names the Python side
  -- passes: `propext`, `Classical.choice`, `Quot.sound`, `Lean.ofReduceBool`, ...)
  let allowed := a.allowAxioms.map String.toName
  for (t, axs) in checked do
    problems := problems ++ axiomProblems env' allowed t axs
  throwAll problems
  rep.modify fun r => { r with ok := true, stage := "done", error := none }

unsafe def run (args : List String) : IO (Report × UInt32) := do
  match parseArgs args { olean := none } with
  | .error msg => return ({ stage := "args", error := some s!"{msg}\n{usage}" }, 2)
  | .ok a =>
    let some olean := a.olean
      | return ({ stage := "args", error := some s!"--olean is required\n{usage}" }, 2)
    -- F2: without it a panic in `Lean.Replay` (`find!`, `unreachable!`) prints and goes on with a default
    if (← IO.getEnv "LEAN_ABORT_ON_PANIC") != some "1" then
      return ({ stage := "args", error := some s!"LEAN_ABORT_ON_PANIC=1 must be set (a panic must abort the check)\n{usage}" }, 2)
    let rep ← IO.mkRef ({ stage := "read" } : Report)
    try
      check a olean rep
    catch e =>
      rep.modify fun r => { r with ok := false, error := some (toString e) }
    let r ← rep.get
    return (r, if r.ok then 0 else 1)

end Bridge.Check

unsafe def main (args : List String) : IO UInt32 := do
  let stdout ← IO.getStdout
  -- Whatever else writes to Lean's stdout while we check goes to stderr: stdout carries one line only.
  let _ ← IO.setStdout (← IO.getStderr)
  let (r, code) ← Bridge.Check.run args
  if let some e := r.error then
    IO.eprintln s!"bridge-check: {r.stage}: {e}"
  stdout.putStrLn r.render.compress
  stdout.flush
  return code

/-
`bridge-check`: the trusted kernel checker of `bridge` (Lean v4.9.0).

    bridge-check --olean CANDIDATE.olean [--reference REFERENCE.olean] [--target NAME]... [--all-theorems]

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
(leakEnv := false) : IO Environment`, and `ModuleData` with `imports : Array Import`,
`constNames : Array Name`, `constants : Array ConstantInfo`).

No candidate code runs: imported modules' `[init]` declarations only run after
`enableInitializersExecution`, which this program never calls, and the candidate itself is not imported,
so none of its attributes, environment extensions or elaborators exist here.

Output: exactly one JSON line on stdout (everything Lean might print to stdout while checking is sent to
stderr instead), then the exit status: 0 ok, 1 rejected, 2 usage error.

    {"ok": .., "stage": "args"|"read"|"import"|"replay"|"reference"|"target"|"done", "error": null | "..",
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

def usage : String :=
  "usage: bridge-check --olean CANDIDATE.olean [--reference REFERENCE.olean] [--target NAME]... [--all-theorems]"

def parseArgs : List String → Args → Except String Args
  | [], a => .ok a
  | "--olean" :: p :: rest, a =>
    if a.olean.isSome then .error "--olean given twice"
    else parseArgs rest { a with olean := some (System.FilePath.mk p) }
  | "--reference" :: p :: rest, a =>
    if a.reference.isSome then .error "--reference given twice"
    else parseArgs rest { a with reference := some (System.FilePath.mk p) }
  | "--target" :: n :: rest, a => parseArgs rest { a with targets := a.targets.push n }
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

/-- The kinds of `ConstantInfo` (`src/Lean/Declaration.lean`) the Python side tells apart. -/
def kindOf : ConstantInfo → String
  | .thmInfo _ => "theorem"
  | .defnInfo _ => "def"
  | .axiomInfo _ => "axiom"
  | .opaqueInfo _ => "opaque"
  | _ => "other"

/-- The axioms `n` depends on in `env`, sorted, as `#print axioms` finds them: Lean v4.9.0
`src/Lean/Util/CollectAxioms.lean` has `CollectAxioms.M := ReaderT Environment $ StateM State` and
`collectAxioms` runs it as `((CollectAxioms.collect constName).run env).run {}`. -/
def axiomsOf (env : Environment) (n : Name) : Array String :=
  let (_, s) := Id.run (((CollectAxioms.collect n).run env).run {})
  (s.axioms.map toString).qsort (fun a b => decide (a < b))

def targetJson (name kind : String) (axioms : Array String) (typeMatches : Option Bool) : Json :=
  Json.mkObj [
    ("name", Json.str name),
    ("kind", Json.str kind),
    ("axioms", Json.arr (axioms.map Json.str)),
    ("type_matches", optJson Json.bool typeMatches)]

/-- The constant of module data `mod` called `n`, looked up in the module's own arrays. -/
def findIn (mod : ModuleData) (n : Name) : Option ConstantInfo := Id.run do
  for c in mod.constNames, ci in mod.constants do
    if c == n then
      return some ci
  return none

/-- The candidate's own constant that a `--target` string names. -/
def resolveTarget (mod : ModuleData) (t : String) : Option Name :=
  let n := t.toName
  mod.constNames.find? fun c => c == n || c.toString == t || c.toString (escape := false) == t

/-- Judge one target in the replayed environment: its JSON entry (when found) and what is wrong with it. -/
def judgeTarget (env : Environment) (mod : ModuleData) (refMod? : Option ModuleData) (t : String) :
    Option (Name × Json) × Array String := Id.run do
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
      let sameType := rci.levelParams == ci.levelParams && rci.type == ci.type
      unless kindOf rci == kind do
        problems := problems.push s!"target '{t}' is a {kind} but the reference declares a {kindOf rci}"
      unless sameType do
        problems := problems.push s!"the type (statement) of target '{t}' differs from the reference's"
      typeMatches := some sameType
  return (some (n, targetJson t kind (axiomsOf env n) typeMatches), problems)

def setStage (rep : IO.Ref Report) (stage : String) : IO Unit :=
  rep.modify fun r => { r with stage := stage }

/-- The module name the candidate is imported under in lean4checker's `moduleNameSet`: its file's stem.
(`lean -R DIR -o DIR/M.olean DIR/M.lean` names the module `M`.) -/
def moduleNameOf (olean : System.FilePath) : Name :=
  match olean.fileStem with
  | some stem => stem.toName
  | none => `_bridge_candidate

/-- The stages; any exception leaves `rep.stage` at the stage that threw. -/
unsafe def check (a : Args) (olean : System.FilePath) (rep : IO.Ref Report) : IO Unit := do
  setStage rep "read"
  let (mod, _region) ← readModuleData olean
  let imports := mod.imports.map (·.module)
  rep.modify fun r => { r with imports := imports.map toString }

  setStage rep "import"
  -- A module without imports is a `prelude` module. `finalizeImport` sets `quotInit := !imports.isEmpty`
  -- from the import list it is given (lean4checker gives `#[{module}]`, never empty), so the kernel would
  -- believe `Quot` initialised while the candidate could declare its own `Quot.lift`; refuse such modules.
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
    let refImports := refMod.imports.map (·.module)
    unless refImports == imports do
      throw <| IO.userError s!"the candidate imports {imports} but the reference imports {refImports}"
    refMod? := some refMod

  setStage rep "target"
  let mut problems : Array String := #[]
  let mut entries : Array Json := #[]
  let mut seen : Array Name := #[]
  for t in a.targets do
    let (entry?, ps) := judgeTarget env' mod refMod? t
    problems := problems ++ ps
    if let some (n, j) := entry? then
      unless seen.contains n do
        seen := seen.push n
        entries := entries.push j
  if a.allTheorems then
    for n in mod.constNames do
      unless seen.contains n do
        if let some (.thmInfo _) := env'.find? n then
          if (env'.getModuleIdxFor? n).isNone then
            seen := seen.push n
            entries := entries.push (targetJson n.toString "theorem" (axiomsOf env' n) none)
  rep.modify fun r => { r with targets := entries }
  unless problems.isEmpty do
    throw <| IO.userError ("; ".intercalate problems.toList)
  rep.modify fun r => { r with ok := true, stage := "done", error := none }

unsafe def run (args : List String) : IO (Report × UInt32) := do
  match parseArgs args { olean := none } with
  | .error msg => return ({ stage := "args", error := some s!"{msg}\n{usage}" }, 2)
  | .ok a =>
    let some olean := a.olean
      | return ({ stage := "args", error := some s!"--olean is required\n{usage}" }, 2)
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

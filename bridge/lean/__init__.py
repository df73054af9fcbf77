"""Everything that talks to a Lean process: protocol, one REPL, the pool, the sandbox, the project."""

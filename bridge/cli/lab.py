"""``bridge lab [RUN_DIR]``: a local web app (Gradio) over a run directory, with a try-it tab."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.errors import InputError, SetupError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="a local web app: browse a run (filters, proofs, Lean's messages, pass@k) "
                       "and try statements", description="Serve a Gradio app on --host:--port. The Run tab opens "
                       "a run directory (`bridge prove --run-dir`, an iterate round's samples/ or eval/): its "
                       "problems with filters by verdict, split and band, each sample's proof with Lean's "
                       "messages, the pass@k plot. The Try-it tab takes an informal statement (formalized by "
                       "--formalizer) or a Lean `theorem ... := by`, samples --samples proofs from --model "
                       "(--endpoint: an OpenAI-compatible server) and shows each verdict as Lean gives it. "
                       'Needs the lab extra: pip install -e ".[lab]".')
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="the run directory to open first")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    g = p.add_argument_group("try it")
    g.add_argument("--model", help="prover model name or path (default: the run's model)")
    g.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server's base URL (no torch needed)")
    g.add_argument("--template", choices=["deepseek-v1.5", "goedel-v2", "kimina"],
                   help="prompt template family (default: chosen from the model name)")
    g.add_argument("--formalizer", metavar="MODEL", help="formalizer for informal statements (default: --model)")
    g.add_argument("--formalizer-endpoint", metavar="URL", help="its server (default: --endpoint)")
    g.add_argument("--samples", type=int, default=4, help="proofs sampled per try (default 4)")
    g.add_argument("--max-tokens", type=int, default=1024)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--work-dir", metavar="DIR", default="runs/lab", help="where each try's run directory goes "
                   "(default runs/lab)")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local tool: nothing phones home
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise SetupError("bridge lab needs gradio", 'pip install -e ".[lab]"') from None
    from bridge.lab.app import build_app
    from bridge.lab.try_it import TrySettings
    from bridge.runs.store import RunStore

    if args.samples < 1:
        raise InputError("--samples must be at least 1")
    run_dir = Path(args.run_dir) if args.run_dir else None
    model = args.model
    if run_dir is not None:
        with RunStore.open_existing(run_dir) as store:  # a bad RUN_DIR: one line now, not a page error later
            meta = store.meta()
        model = model or meta.get("model")
        endpoint = args.endpoint or meta.get("endpoint")
    else:
        endpoint = args.endpoint
    settings = None
    if model:
        settings = TrySettings(model=model, config=config_from_args(args), work_dir=Path(args.work_dir),
                               endpoint=endpoint, template=args.template, formalizer=args.formalizer,
                               formalizer_endpoint=args.formalizer_endpoint, samples=args.samples,
                               max_tokens=args.max_tokens, temperature=args.temperature)
    app = build_app(run_dir, settings)
    eprint(f"bridge lab: http://{args.host}:{args.port}/" + (f" ({run_dir})" if run_dir else ""))
    app.queue().launch(server_name=args.host, server_port=args.port, share=False, show_error=True, quiet=True,
                       ssr_mode=False, theme=app.bridge_theme,
                       allowed_paths=[str(run_dir.resolve())] if run_dir else None)
    return 0

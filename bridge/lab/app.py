"""The Gradio app of ``bridge lab``: a Run tab (a run directory's problems with filters by verdict, split and
band; a problem's samples with the code Lean checked and Lean's messages; the pass@k plot and table) and a
Try-it tab (a statement -> formalize/prove -> verdicts as they come)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError
from bridge.lab.try_it import TrySettings, TryState, fold, try_statement
from bridge.lab.view import ALL, RunView

HEADERS = ["problem", "split", "band", "status", "proved/samples", "verdicts"]
TRY_HEADERS = ["sample", "verdict", "gate / reason", "first message"]
_VIEWS: dict[str, RunView] = {}
_LOCK = threading.Lock()


def _view(path: str) -> RunView:
    key = str(Path(path).expanduser().resolve())
    with _LOCK:
        if key not in _VIEWS:
            _VIEWS[key] = RunView.load(Path(key))
        return _VIEWS[key]


def build_app(run_dir: Path | None, settings: TrySettings | None) -> Any:
    import gradio as gr

    def open_run(path: str, reload: bool = True) -> tuple[Any, ...]:
        if reload:
            with _LOCK:
                _VIEWS.pop(str(Path(path).expanduser().resolve()), None)
        try:
            v = _view(path)
        except BridgeError as e:
            msg = f"**error:** {e}"
            return (msg, gr.Radio(choices=[ALL], value=ALL), gr.Radio(choices=[ALL], value=ALL),
                    gr.Radio(choices=[ALL], value=ALL), "", [], gr.Dropdown(choices=[], value=None), "", None,
                    "")
        rows = v.rows()
        return (v.summary(), gr.Radio(choices=v.verdict_choices(), value=ALL),
                gr.Radio(choices=v.split_choices(), value=ALL), gr.Radio(choices=v.band_choices(), value=ALL),
                _count(len(rows), len(v.problems)), rows,
                gr.Dropdown(choices=[r[0] for r in rows], value=None), "Choose a problem.",
                str(v.plot) if v.plot else None, v.passk_table())

    def filter_rows(path: str, verdict: str, split: str, band: str) -> tuple[Any, ...]:
        try:
            v = _view(path)
        except BridgeError as e:
            return f"**error:** {e}", [], gr.Dropdown(choices=[], value=None)
        rows = v.rows(verdict or ALL, split or ALL, band or ALL)
        return _count(len(rows), len(v.problems)), rows, gr.Dropdown(choices=[r[0] for r in rows], value=None)

    def show_problem(path: str, pid: str | None) -> str:
        try:
            return _view(path).problem_text(pid)
        except BridgeError as e:
            return f"**error:** {e}"

    def run_try(text: str):  # a generator: Gradio streams each yield to the page
        state = TryState()
        if settings is None:
            yield "error: no model configured (`bridge lab --model M [--endpoint URL]`)", "", []
            return
        for ev in try_statement(text, settings):
            state = fold(state, ev)
            yield state.status, state.statement, [list(r) for r in state.table]

    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])  # no web fonts: the lab runs offline
    with gr.Blocks(title="bridge lab") as app:
        app.bridge_theme = theme  # launch() takes the theme in Gradio 6
        gr.Markdown("# bridge lab")
        with gr.Tab("Run"):
            with gr.Row():
                path = gr.Textbox(label="Run directory", value=str(run_dir or ""), scale=4)
                open_btn = gr.Button("Open", scale=1)
            summary = gr.Markdown(elem_id="run-summary")
            with gr.Row():
                verdict = gr.Radio(label="Verdict", choices=[ALL], value=ALL, elem_id="filter-verdict")
                split = gr.Radio(label="Split", choices=[ALL], value=ALL, elem_id="filter-split")
                band = gr.Radio(label="Band", choices=[ALL], value=ALL, elem_id="filter-band")
            count = gr.Markdown(elem_id="problem-count")
            table = gr.Dataframe(headers=HEADERS, value=[], interactive=False, wrap=True, elem_id="problems")
            problem = gr.Dropdown(label="Problem", choices=[], value=None, elem_id="problem-choice")
            detail = gr.Markdown(elem_id="problem-detail")
            with gr.Row():
                plot = gr.Image(label="pass@k", type="filepath", interactive=False, elem_id="passk-plot")
                passk = gr.Markdown(elem_id="passk-table")
        with gr.Tab("Try it"):
            gr.Markdown("An informal statement is formalized first (the configured formalizer); a Lean "
                        "`theorem name ... := by` is proved as written. Verdicts appear as Lean decides them."
                        + (f" Model: `{settings.model}`" + (f" at {settings.endpoint}" if settings.endpoint else "")
                           if settings else " No model is configured: start with `--model` (and `--endpoint`)."))
            text = gr.Textbox(label="Statement", lines=5, elem_id="try-input",
                              placeholder="The sum of two even numbers is even.  -- or --  theorem t (n : Nat) : "
                              "n + 0 = n := by")
            go = gr.Button("Formalize and prove", variant="primary", elem_id="try-go")
            status = gr.Markdown(elem_id="try-status")
            statement = gr.Code(label="Lean statement", language=None, interactive=False, elem_id="try-statement")
            verdicts = gr.Dataframe(headers=TRY_HEADERS, value=[], interactive=False, wrap=True, elem_id="try-verdicts")

        outs = [summary, verdict, split, band, count, table, problem, detail, plot, passk]
        open_btn.click(open_run, inputs=[path], outputs=outs)
        path.submit(open_run, inputs=[path], outputs=outs)
        if run_dir is not None:
            app.load(lambda p: open_run(p, reload=False), inputs=[path], outputs=outs)
        for f in (verdict, split, band):
            f.change(filter_rows, inputs=[path, verdict, split, band], outputs=[count, table, problem])
        problem.change(show_problem, inputs=[path, problem], outputs=[detail])
        go.click(run_try, inputs=[text], outputs=[status, statement, verdicts])
    return app


def _count(shown: int, total: int) -> str:
    return f"**{shown} of {total} problems**"

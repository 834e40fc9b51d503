"""The Retrieval tab: search the index, compare methods, preview chunks, ask why not, ingest.

Top: the query and an eval-case picker (a case fills the query, marks its relevant documents ★
and gets a why-not report). Then the index stats (or the ingest progress bar), a status line,
the dense / full-text / hybrid rankings (side by side when the terminal is wide, one at a time
with ctrl+n at 80 columns), and the preview of the selected chunk in its document next to (or,
at 80 columns, switched with ctrl+y) the why-not report.

All slow work is in thread workers that post messages; handlers change the widgets: searches
(`retrieval-search`, which also loads the embedding model on first use and stores a trace, as
`workbench retrieve` does). Ingest and the index stats live in `IndexStatus`
(widgets/retrieval_index.py), document loading in `PreviewPane` (widgets/retrieval_preview.py),
the eval cases in `CasePicker` (widgets/retrieval_cases.py): this tab owns the keys and reports
the outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Select, Static
from textual.worker import get_current_worker

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe
from workbench.present.numbers import ms
from workbench.present.retrieval import MODE_LABEL, ingest_summary, render_whynot
from workbench.tui.widgets.retrieval_cases import CaseChoice, CasePicker
from workbench.tui.widgets.retrieval_index import MODEL_LOADING, IndexStatus
from workbench.tui.widgets.retrieval_preview import PreviewPane
from workbench.tui.widgets.retrieval_report import theme_styles
from workbench.tui.widgets.retrieval_results import ResultsPanel

MODES = ("dense", "fts", "hybrid")
WIDE = 150  # columns from which the three rankings fit side by side
WHYNOT_HINT = (
    "Pick an eval case (ctrl+t), or search and name the document you expected "
    "(ctrl+e), to see where it ranked under each method."
)
WHYNOT_DEPTH = 100  # how deep a case's search goes, so the why-not report sees deep ranks


class RetrievalTab(Vertical):
    """Query, per-method rankings, chunk preview, why-not report, ingest and index stats."""

    DEFAULT_CSS = """
    RetrievalTab { height: 1fr; }
    RetrievalTab #rt-top { height: 1; }
    RetrievalTab #rt-query { width: 1fr; }
    RetrievalTab #rt-case { width: 30; margin-left: 1; }
    RetrievalTab #rt-line { height: 1; color: $text-muted; }
    RetrievalTab #rt-line.-error { color: $error; }
    RetrievalTab #rt-results { height: 8; }
    RetrievalTab ResultsPanel { display: none; }
    RetrievalTab ResultsPanel.-active { display: block; }
    RetrievalTab ResultsPanel > .results-title { display: none; }
    RetrievalTab #rt-bottom { height: 1fr; border-top: hkey $panel-lighten-1; }
    RetrievalTab .rt-pane { width: 1fr; height: 1fr; }
    RetrievalTab .rt-pane-title { height: 1; text-style: bold; color: $primary; }
    RetrievalTab .rt-scroll { height: 1fr; scrollbar-size-vertical: 1; }
    RetrievalTab #rt-whynot-pane { display: none; }
    RetrievalTab.-whynot #rt-whynot-pane { display: block; }
    RetrievalTab.-whynot #rt-preview-pane { display: none; }
    RetrievalTab.-wide #rt-results { height: 2fr; }
    RetrievalTab.-wide ResultsPanel { display: block; margin-right: 1; }
    RetrievalTab.-wide ResultsPanel > .results-title { display: block; }
    RetrievalTab.-wide #rt-bottom { height: 3fr; }
    RetrievalTab.-wide #rt-preview-pane { display: block; }
    RetrievalTab.-wide #rt-whynot-pane { display: block; border-left: vkey $panel-lighten-1;
                                         padding-left: 1; }
    """

    BINDINGS = [
        Binding(
            "ctrl+r",
            "search",
            "Search",
            id="retrieval.search",
            tooltip="Search the index with the query (Enter in the query box does too)",
        ),
        Binding(
            "ctrl+n",
            "next_mode",
            "Method",
            id="retrieval.next_mode",
            tooltip="Show the next method's ranking: dense, full-text, hybrid",
        ),
        Binding(
            "ctrl+t",
            "pick_case",
            "Case",
            id="retrieval.pick_case",
            tooltip="Pick an eval case: fills the query, marks its relevant documents",
        ),
        # show=False: the footer at 80 columns keeps room for `esc Cancel`; the why-not pane says ctrl+e
        Binding(
            "ctrl+e",
            "expected_doc",
            "Expected",
            id="retrieval.expected",
            priority=True,
            show=False,
            tooltip="Name the document this search should have found: the why-not report says where it ranked",
        ),
        Binding(
            "ctrl+y",
            "toggle_whynot",
            "Why not",
            id="retrieval.whynot",
            tooltip="Switch between the chunk preview and the why-not-retrieved report",
        ),
        Binding(
            "ctrl+o",
            "copy_chunk",
            "Copy",
            id="retrieval.copy",
            tooltip="Copy the selected chunk's text to the clipboard (OSC 52; works over SSH)",
        ),
        Binding(
            "ctrl+g",
            "ingest",
            "Ingest",
            id="retrieval.ingest",
            tooltip="Ingest the corpus into the index (only new and changed files)",
        ),
        Binding(
            "escape",
            "cancel_ingest",
            "Cancel",
            id="retrieval.cancel",
            tooltip="Stop the ingest after this batch; finished files are kept",
        ),
        Binding(
            "ctrl+b",
            "tune",
            "Tune",
            id="retrieval.tune",
            show=False,
            tooltip="retrieval tune: score a grid of settings on the default eval set; a applies the winner",
        ),
        Binding("ctrl+f", "focus_query", "Query", id="retrieval.query", show=False, tooltip="Move to the query box"),
        Binding(
            "ctrl+l",
            "focus_results",
            "Results",
            id="retrieval.results",
            show=False,
            tooltip="Move to the results table (arrows select a chunk to preview)",
        ),
    ]

    #: Latency is real but changes run to run; snapshot tests turn it off.
    show_timings: ClassVar[bool] = True

    mode: reactive[str] = reactive("hybrid", init=False)

    # -- messages ------------------------------------------------------------------------------
    @dataclass
    class ModelLoading(Message):
        """The first search of the session is loading the embedding model."""

    @dataclass
    class Searched(Message):
        """A search finished: its result and why-not report, or why it could not run."""

        seq: int
        result: Any = None
        report: Any = None
        trace_id: int | None = None
        error: str | None = None
        damaged: bool = False  # the error was IndexDamaged: ctrl+g must rebuild

    # -- set-up --------------------------------------------------------------------------------
    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.settings = project.config.retrieval
        self.set_reactive(RetrievalTab.mode, self.settings.mode)
        self.case: CaseChoice | None = None
        self.result: Any = None
        self.report: Any = None
        self.trace_id: int | None = None
        self.palette: dict[str, str] = {}
        self._seq = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="rt-top"):
            yield Input(placeholder="question or keywords — Enter searches", id="rt-query", compact=True)
            yield CasePicker(self.project, id="rt-case")
        yield IndexStatus(self.project, id="rt-status")
        yield Static("", id="rt-line")
        with Horizontal(id="rt-results"):
            for mode in MODES:
                yield ResultsPanel(mode, id=f"results-{mode}", classes="-active" if mode == self.mode else "")
        with Horizontal(id="rt-bottom"):
            yield PreviewPane(self.project, id="rt-preview-pane", classes="rt-pane")
            with Vertical(id="rt-whynot-pane", classes="rt-pane"):
                yield Static("Why not retrieved", id="rt-whynot-title", classes="rt-pane-title")
                with VerticalScroll(id="rt-whynot-scroll", classes="rt-scroll"):
                    yield Static(Text(WHYNOT_HINT), id="rt-whynot")

    def on_mount(self) -> None:
        self.palette = theme_styles(self.app)
        self.watch(self.app, "theme", self._theme_changed, init=False)
        self._set_line(self._idle_line())
        self.query_one("#rt-query", Input).focus()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")
        if self.result is not None:
            self._set_line(self._result_line())

    @property
    def status(self) -> IndexStatus:
        return self.query_one(IndexStatus)

    @property
    def ingesting(self) -> bool:
        return self.status.ingesting

    @property
    def index_ok(self) -> bool:
        return self.status.index_ok

    @property
    def wide(self) -> bool:
        return self.has_class("-wide")

    def _theme_changed(self) -> None:
        self.palette = theme_styles(self.app)
        self._show_result()
        self._show_whynot()
        self._show_preview(self.selected_hit)

    # -- status lines --------------------------------------------------------------------------
    def _set_line(self, text: str, error: bool = False) -> None:
        line = self.query_one("#rt-line", Static)
        line.update(Text(terminal_safe(text), no_wrap=True, overflow="ellipsis"))
        line.set_class(error, "-error")

    def _idle_line(self) -> str:
        if not self.index_ok:
            return "Search needs an index: press ctrl+g to ingest."
        return "Type a question and press Enter; ctrl+t picks an eval case."

    def _result_line(self) -> str:
        r = self.result
        parts = [f"{len(r.candidates)} candidates", f"k={r.k}"]
        parts.append(
            "dense · full-text · hybrid" if self.wide else f"showing {MODE_LABEL[self.mode]} (ctrl+n: next method)"
        )
        if self.show_timings:
            parts.append(ms(r.latency_ms))
        if self.trace_id is not None:
            parts.append(f"trace r{self.trace_id}")
        return " · ".join(parts)

    # -- eval cases ----------------------------------------------------------------------------
    @property
    def cases(self) -> dict[str, CaseChoice]:
        return self.query_one(CasePicker).cases

    @on(Select.Changed, "#rt-case")
    def _case_changed(self) -> None:
        self.case = self.query_one(CasePicker).chosen()
        if self.case is None:
            self.report = None
            self._show_result()
            self._show_whynot()
            return
        self.query_one("#rt-query", Input).value = self.case.question
        self.action_search()

    # -- searching -----------------------------------------------------------------------------
    @on(Input.Submitted, "#rt-query")
    def _query_submitted(self) -> None:
        self.action_search()

    def action_search(self) -> None:
        query = self.query_one("#rt-query", Input).value.strip()
        if not query:
            self.notify("Type a question first.", severity="warning")
            return
        self._seq += 1
        self._set_line(f"searching… ({MODE_LABEL[self.mode]})")
        self.run_search(self._seq, query, self.case)

    @work(thread=True, exclusive=True, group="retrieval-search", exit_on_error=False)
    def run_search(self, seq: int, query: str, case: CaseChoice | None) -> None:
        from workbench.core.retrieval.embedder import loaded_embedder
        from workbench.core.retrieval.index import IndexDamaged
        from workbench.core.retrieval.service import open_index, retrieve
        from workbench.core.retrieval.whynot import why_not

        settings, root = self.settings, self.project.root
        try:
            open_index(self.project, settings)  # a missing index is reported before the model loads
            if loaded_embedder(settings.embedding_model, root) is None:
                self.post_message(self.ModelLoading())
            depth = max(settings.candidates, WHYNOT_DEPTH if case else 0)
            result, trace_id = retrieve(
                self.project, settings, query, source="tui", depth=depth, gold=list(case.relevant) if case else None
            )
            report = None
            if case is not None:
                report = why_not(
                    query,
                    list(case.relevant),
                    open_index(self.project, settings),
                    settings,
                    expected=case.expected,
                    case_id=case.case_id,
                    result=result,
                    depth=WHYNOT_DEPTH,
                )
        except WorkbenchError as exc:
            self.post_message(self.Searched(seq, error=str(exc), damaged=isinstance(exc, IndexDamaged)))
            return
        except Exception as exc:
            self.post_message(self.Searched(seq, error=f"{type(exc).__name__}: {exc}"))
            raise
        if not get_current_worker().is_cancelled:
            self.post_message(self.Searched(seq, result, report, trace_id))

    @on(ModelLoading)
    def _model_loading(self) -> None:
        self._set_line(MODEL_LOADING)

    @on(Searched)
    def _searched(self, message: Searched) -> None:
        if message.seq != self._seq:
            return  # an older search finished after a newer one started
        if message.error:
            self._set_line(message.error, error=True)
            if message.damaged:
                self.status.note_damage(message.error)
            self.status.refresh_stats()
            return
        self.result, self.report, self.trace_id = message.result, message.report, message.trace_id
        self._set_line(self._result_line())
        self._show_result()
        self._show_whynot()
        if self.report is not None and not self.wide:
            self.add_class("-whynot")
        panel = self.active_panel()
        self._show_preview(panel.hits[0] if panel.hits else None)

    def active_panel(self) -> ResultsPanel:
        if self.wide:
            focused = self.screen.focused
            for panel in self.query(ResultsPanel):
                if focused is not None and panel in focused.ancestors:
                    return panel
        return self.query_one(f"#results-{self.mode}", ResultsPanel)

    def _show_result(self) -> None:
        if self.result is None:
            return
        r = self.result
        rows = max(2 * r.k, 10)
        relevant = list(self.case.relevant) if self.case else []
        for mode in MODES:
            title = f"{MODE_LABEL[mode]} — top {r.k} of {len(r.ranking(mode))}"
            self.query_one(f"#results-{mode}", ResultsPanel).show(r.top(mode, rows), r.k, relevant, self.palette, title)

    def _show_whynot(self) -> None:
        body = self.query_one("#rt-whynot", Static)
        case = f" · {self.case.case_id}" if self.case and self.report is not None else ""
        self.query_one("#rt-whynot-title", Static).update(
            Text(terminal_safe(f"Why not retrieved{case}"), no_wrap=True, overflow="ellipsis")
        )
        if self.report is None:
            body.update(Text(WHYNOT_HINT))
            self.remove_class("-whynot")
            return
        body.update(render_whynot(self.report, self.palette))

    # -- preview -------------------------------------------------------------------------------
    @on(ResultsPanel.Highlighted)
    def _row_highlighted(self, message: ResultsPanel.Highlighted) -> None:
        # refilling a hidden or unfocused ranking moves its cursor too: only the ranking the
        # user is looking at drives the preview
        panel = message.panel
        if panel.table.has_focus or (not self.wide and panel.mode == self.mode):
            self._show_preview(message.hit)

    def _show_preview(self, hit: Any) -> None:
        query = self.result.query if self.result is not None else ""
        self.query_one(PreviewPane).show(hit, query, self.palette)

    @property
    def selected_hit(self) -> Any:
        return self.query_one(PreviewPane).hit

    # -- ingest --------------------------------------------------------------------------------
    def action_ingest(self) -> None:
        if not self.status.start():
            self.notify("Ingest is already running (Esc cancels it).", severity="warning")
        self.refresh_bindings()

    def action_cancel_ingest(self) -> None:
        self.status.cancel()

    @on(IndexStatus.Finished)
    def _ingest_finished(self, message: IndexStatus.Finished) -> None:
        self.query_one(PreviewPane).forget()
        self.refresh_bindings()
        if message.error:
            self.notify(f"Ingest failed: {message.error}", severity="error", timeout=10, markup=False)
            return
        report = message.report
        text = ingest_summary(report)
        if report.skipped:
            shown = [f"  {s.path}: {s.reason}" for s in report.skipped[:5]]
            more = len(report.skipped) - len(shown)
            text += "\nSkipped:\n" + "\n".join(shown) + (f"\n  … and {more} more" if more else "")
        self.notify(
            terminal_safe(text),
            title="Ingest",
            markup=False,
            timeout=8,
            severity="warning" if report.cancelled else "information",
        )
        if self.result is None:
            self._set_line(self._idle_line())
        else:
            self.action_search()  # the rankings on screen should be the new index's

    # -- other actions -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_ingest":
            return self.ingesting
        if action == "copy_chunk":
            return True if self.selected_hit is not None else None
        if action == "next_mode":
            return not self.wide
        return True

    def action_next_mode(self) -> None:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]

    def watch_mode(self, mode: str) -> None:
        for panel in self.query(ResultsPanel):
            panel.set_class(panel.mode == mode, "-active")
        if self.result is not None:
            self._set_line(self._result_line())
            panel = self.query_one(f"#results-{mode}", ResultsPanel)
            self._show_preview(panel.selected())

    def action_pick_case(self) -> None:
        select = self.query_one(CasePicker)
        select.focus()
        if self.cases:
            select.action_show_overlay()

    def action_expected_doc(self) -> None:
        from workbench.tui.screens.gold_doc import ask_gold

        ask_gold(self)

    def action_toggle_whynot(self) -> None:
        if self.wide:
            self.query_one("#rt-whynot-scroll", VerticalScroll).focus()
        else:
            self.toggle_class("-whynot")

    def action_copy_chunk(self) -> None:
        hit = self.selected_hit
        if hit is None:
            self.notify("Select a result first.", severity="warning")
            return
        from workbench.tui.clipboard import copy_text

        copy_text(self, hit.text, terminal_safe(f"{hit.chunk_id} ({len(hit.text)} characters)"))

    def action_tune(self) -> None:
        from workbench.tui.screens.retrieval_tune import TuneScreen

        def closed(applied: bool | None) -> None:
            if applied:  # workbench.yaml changed and the index was rebuilt: search with the new settings
                self.settings = self.status.settings = self.project.config.retrieval
                self.status.refresh_stats()

        self.app.push_screen(TuneScreen(self.project), closed)

    def action_focus_query(self) -> None:
        self.query_one("#rt-query", Input).focus()

    def action_focus_results(self) -> None:
        self.active_panel().table.focus()

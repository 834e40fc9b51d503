"""One streaming answer: the live view, its stats, notices and sources.

Details: docs/NOTES.md, section tui/widgets/answer.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from workbench.core.errors import WorkbenchError
from workbench.core.safetext import terminal_safe
from workbench.present.generation import LiveStats, final_parts, interrupted_parts, pack
from workbench.tui.widgets.stream_view import RENDER_EVERY_S, LiveTail, StreamView

if TYPE_CHECKING:  # imported on first use: markdown-it + pygments cost ~50 ms before first paint
    from textual.widgets import Markdown, OptionList

_END = object()
STATS_EVERY_S = 0.25  # live stats refresh
MAX_NOTICES = 2  # newest notices shown, one line each (all of them are in the run's row)


def headline_first(notice: str) -> str:
    """'Ollama busy: <server text> — retry 1/2 in 0.4 s' -> 'retry 1/2 in 0.4 s — Ollama busy:
    <server text>': notices are cut to one line, so what happens next must come first."""
    head, sep, tail = notice.rpartition(" — ")
    return f"{tail} — {head}" if sep and tail.startswith("retry") else notice


class StatsLine(Static):
    """' · '-separated numbers that wrap between parts, never inside one."""

    def __init__(self, *parts: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parts = list(parts)

    def set_parts(self, parts: list[str]) -> None:
        width = self.content_region.width or 80
        relayout = pack(parts, width).count("\n") != pack(self.parts, width).count("\n")
        self.parts = parts
        self.refresh(layout=relayout)  # a reflow of the whole screen only when height changes

    def render(self) -> Text:
        return Text(pack(self.parts, self.content_region.width or 80))

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return pack(self.parts, width).count("\n") + 1


class AnswerPane(Vertical):
    """Title, stats line, notices, the answer, and the sources it was grounded on."""

    @dataclass
    class Finished(Message):
        """A generation ended (ok, error, or interrupted); `record` is None unless it completed."""

        pane: AnswerPane
        status: str
        record: Any = None

    @dataclass
    class NoticeShown(Message):
        """A retry, fallback or warning arrived while streaming."""

        pane: AnswerPane
        text: str
        level: str

    def __init__(self, project: Any, slot: str, *, title: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.slot = slot
        self.next_label = title or "no answer yet"  # the variant ctrl+r will use
        self.answered: tuple[str, str] | None = None  # (name, "name (id)") of the shown answer
        self.text = ""
        self.record: Any = None
        self.restored_id: int | None = None  # an answer shown again from runs.db at start-up
        self.status = "idle"
        self.live: LiveStats | None = None
        self.notices: list[tuple[str, str]] = []
        self._stats_timer: Any = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="answer-title")
        yield StatsLine("Press ctrl+r to send.", classes="answer-stats")
        yield Static("", classes="answer-notices")
        # The Markdown view and the sources list are mounted on first use: fewer widgets to
        # style before the first paint (and markdown-it is not imported until an answer comes).
        yield VerticalScroll(classes="answer-scroll")

    # -- queries -----------------------------------------------------------------------------
    @property
    def markdown(self) -> Markdown:
        from textual.widgets import Markdown

        return self.query_one(".answer-md", Markdown)

    async def _ensure_widgets(self) -> None:
        from textual.widgets import Markdown, OptionList

        if not self.query(".answer-md"):
            await self.query_one(".answer-scroll", VerticalScroll).mount(Markdown("", classes="answer-md"))
            await self.mount(LiveTail(classes="answer-live"), after=".answer-scroll")
        if not self.query(".answer-sources"):
            await self.mount(OptionList(classes="answer-sources"))

    @property
    def streaming(self) -> bool:
        return any(w.is_running for w in self.workers_in_group("generate"))

    def workers_in_group(self, group: str) -> list[Any]:
        return [w for w in self.app.workers if w.node is self and w.group == group]

    @property
    def generation_id(self) -> int | None:
        return self.record.id if self.record is not None else self.restored_id

    def shown_label(self) -> str:
        """The variant of the answer on show ('base', 'concise (edited)')."""
        return self.answered[0] if self.answered else self.next_label

    async def restore(self, row: dict[str, Any]) -> None:
        """Show a stored answer again (the app was closed with it on show): its text and where
        it came from; ctrl+r replaces it as usual."""
        await self._ensure_widgets()
        self.text, self.restored_id, self.status = row.get("output") or "", row["id"], "restored"
        name = row.get("variant_name") or "base"
        self.answered = (name, f"{name} ({row.get('variant_id')})")
        self.query_one(".answer-title", Static).update(self._title())
        await self.markdown.update(terminal_safe(self.text))
        self.query_one(".answer-stats", StatsLine).set_parts(
            [f"g{row['id']}", str(row.get("status")), "from the last session (workbench runs)"]
        )

    def set_title(self, label: str) -> None:
        """The variant the next ctrl+r answers with; an answer on show keeps its own name."""
        self.next_label = label
        self.query_one(".answer-title", Static).update(self._title())

    def _title(self) -> Text:
        if self.answered is None:
            title = f"{self.slot} · {self.next_label}"
        else:
            name, label = self.answered
            title = f"{self.slot} · {label}"
            if self.next_label != name:
                title += f" · next: {self.next_label}"
        return Text(terminal_safe(title))

    # -- actions -----------------------------------------------------------------------------
    def start(self, variant: Any, inputs: dict[str, str]) -> Any:
        """Begin streaming `variant` on `inputs`; a running answer in this pane is cancelled."""
        return self.generate(variant, dict(inputs))

    def cancel(self) -> bool:
        """Cancel a running answer; True when there was one."""
        running = [w for w in self.workers_in_group("generate") if w.is_running]
        for worker in running:
            worker.cancel()
        return bool(running)

    # -- the worker ----------------------------------------------------------------------------
    @work(exclusive=True, group="generate", exit_on_error=False)
    async def generate(self, variant: Any, inputs: dict[str, str]) -> Any:
        from workbench.core.llm.base import CallStarted, Notice, Thinking, Token
        from workbench.core.pipeline import run_generation

        await self._ensure_widgets()
        await self._reset(variant)
        view = StreamView(self, self.markdown, self.query_one(".answer-live", LiveTail))
        await view.begin()
        queue: asyncio.Queue[Any] = asyncio.Queue()  # pipeline events, then _END
        outcome: dict[str, Any] = {}

        async def produce() -> None:
            try:
                outcome["record"] = await run_generation(
                    self.project, variant, inputs, source="playground", on_event=queue.put_nowait
                )
            finally:
                queue.put_nowait(_END)

        async def show(event: Any) -> None:
            live = self.live
            assert live is not None
            if isinstance(event, Token):
                now = time.monotonic()
                if live.first_token is None:
                    live.first_token = now
                live.last_token = now
                live.chunks += 1
                self.text += event.text
                await view.add(event.text)
            elif isinstance(event, Thinking):
                if live.first_token is None:  # the stored TTFT counts thinking as output too
                    live.first_token = time.monotonic()
                live.thinking_chars += len(event.text)
            elif isinstance(event, CallStarted):
                live.call_started = event.at
            elif isinstance(event, Notice):
                if "retry" in event.text or event.text.startswith("falling back"):
                    live.attempts += 1
                self._add_notice(event.text, event.level)

        producer = asyncio.ensure_future(produce())
        try:
            while True:
                if view.pending:  # a pause in the stream still shows what arrived
                    # (asyncio.wait_for, not asyncio.timeout: on 3.11 the latter can leave a
                    # stray cancellation behind when the item and the deadline coincide)
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=RENDER_EVERY_S)
                    except TimeoutError:
                        await view.render()
                        continue
                else:
                    event = await queue.get()
                if event is _END:
                    break
                await show(event)
            await producer  # re-raises what the pipeline raised
        except asyncio.CancelledError:
            self.status = "interrupted"
            raise
        except WorkbenchError as exc:
            self.status = "error"
            self._add_notice(str(exc), "error")
        except Exception:
            self.status = "error"  # the app's worker-error handler reports it
            raise
        finally:
            if not producer.done():
                producer.cancel()  # the pipeline stores the partial answer as interrupted
                await asyncio.gather(producer, return_exceptions=True)
            while not queue.empty():  # tokens that arrived after the last one shown
                event = queue.get_nowait()
                if event is not _END and isinstance(event, Token):
                    self.text += event.text
                    view.text += event.text
            await view.finish()
            self._finish(outcome.get("record"))
        return outcome.get("record")

    async def _reset(self, variant: Any) -> None:
        self.text, self.record, self.status, self.notices = "", None, "running", []
        self.restored_id = None
        self.live = LiveStats(
            started=time.monotonic(), completion_price_per_1k=self.project.config.pricing.completion_per_1k
        )
        name = variant.name or "base"
        self.answered = (name, f"{name} ({variant.id})")
        self.set_title(name)
        self.query_one(".answer-notices", Static).update("")
        self.remove_class("-has-notices")
        from textual.widgets import OptionList

        sources = self.query_one(".answer-sources", OptionList)
        sources.clear_options()
        self.remove_class("-has-sources")
        self._show_live()
        if self._stats_timer is None:
            self._stats_timer = self.set_interval(STATS_EVERY_S, self._show_live)
        else:
            self._stats_timer.resume()

    def _show_live(self) -> None:
        if self.live is not None and self.status == "running":
            self.query_one(".answer-stats", StatsLine).set_parts(self.live.parts(time.monotonic()))

    def _add_notice(self, text: str, level: str) -> None:
        self.notices.append((terminal_safe(headline_first(text)), level))
        lines = Text(no_wrap=True, overflow="ellipsis")
        for i, (line, lvl) in enumerate(self.notices[-MAX_NOTICES:]):
            if i:
                lines.append("\n")
            lines.append(("✖ " if lvl == "error" else "⚠ " if lvl == "warning" else "• ") + line)
        self.query_one(".answer-notices", Static).update(lines)
        self.add_class("-has-notices")
        self.post_message(self.NoticeShown(self, text, level))

    def _finish(self, record: Any) -> None:
        if self._stats_timer is not None:
            self._stats_timer.pause()
        stats = self.query_one(".answer-stats", StatsLine)
        if record is not None:
            self.record = record
            self.status = record.status
            stats.set_parts(final_parts(record.result, cached=record.cached))
            self._show_sources(record)
        elif self.status == "interrupted":
            stats.set_parts(interrupted_parts(self.live))
        else:
            stats.set_parts([self.status, "nothing stored"])
        self.post_message(self.Finished(self, self.status, record))

    def _show_sources(self, record: Any) -> None:
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option

        sources = record.grounding.sources
        option_list = self.query_one(".answer-sources", OptionList)
        option_list.clear_options()
        if not sources:
            return
        option_list.add_options(
            [Option(Text(terminal_safe(f"[{s.n}] {s.path} — {s.heading}")), id=f"src-{s.n}") for s in sources]
        )
        self._title_sources(option_list)
        self.add_class("-has-sources")

    def _title_sources(self, option_list: Any) -> None:
        """The list's top edge says how to use it: how to get there, or (there) how to open."""
        keys = "↑↓ Enter opens" if option_list.has_focus else "ctrl+l"
        option_list.border_title = f"{option_list.option_count} sources · {keys}"

    def on_descendant_focus(self, event: Any) -> None:
        if event.control.has_class("answer-sources"):
            self._title_sources(event.control)

    def on_descendant_blur(self, event: Any) -> None:
        if event.control.has_class("answer-sources"):
            self._title_sources(event.control)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """A source was chosen in the list: show its text in full."""
        if not event.option_list.has_class("answer-sources"):
            return
        event.stop()
        if self.record is None:
            return
        from workbench.tui.screens.source import SourceScreen

        source = self.record.grounding.sources[event.option_index]
        self.app.push_screen(SourceScreen(source))

    def sources_list(self) -> OptionList | None:
        """The list of sources, when this pane's answer has any."""
        from textual.widgets import OptionList

        found = [o for o in self.query(".answer-sources").results(OptionList) if o.option_count]
        return found[0] if found else None

    def focus_sources(self) -> bool:
        """Move the cursor to the sources: focus the list and highlight one (an OptionList
        focused with nothing highlighted looks unchanged and Enter does nothing)."""
        option_list = self.sources_list()
        if option_list is None:
            return False
        if option_list.highlighted is None:
            option_list.highlighted = 0
        option_list.focus()
        return True

"""The Prompt tab: edit a prompt, send it, watch the answer stream; compare two variants.

Left: variant and model pickers, the system prompt and template (TextAreas loaded from the
prompt file) and one Input per template variable. Right: one answer pane, or two in A/B mode.
Pane A answers with the editor's text (so an edit is tried at once); pane B answers with the
second variant exactly as saved, which makes A/B "my edit versus the baseline"; in A/B mode the
editor's labels say so ("· editing A"), and a line under the B picker says B runs as saved.

Everything slow runs in the panes' workers; this module only turns editor state into a
`Variant` (the same `resolve_variant` the CLI uses, so the variant id matches `workbench ask`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, Static, TextArea

from workbench.core.errors import WorkbenchError
from workbench.core.prompts import template_variables
from workbench.core.variants import Variant
from workbench.tui.promote_flow import promote_available
from workbench.tui.prompt_memory import PromptMemory, stored_answer
from workbench.tui.variant_choice import BASE, model_options, resolve_choice, variant_options, with_edits  # noqa: F401
from workbench.tui.widgets.answer import AnswerPane
from workbench.tui.widgets.picker import Picker
from workbench.tui.widgets.variables import VariablesForm


class PromptTab(Horizontal):
    """Prompt editing, streaming answers, A/B comparison."""

    BINDINGS = [
        Binding("ctrl+r", "send", "Send", id="prompt.send", tooltip="Send the prompt (both variants in A/B mode)"),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="prompt.cancel",
            tooltip="Stop the answer; the partial text is kept and stored as interrupted",
        ),
        Binding(
            "ctrl+t", "toggle_ab", "A/B", id="prompt.ab", tooltip="Two variants answer the same input side by side"
        ),
        Binding(
            "ctrl+s",
            "save_variant",
            "Save",
            id="prompt.save_variant",
            tooltip="Save the template and system prompt as a new named variant",
        ),
        Binding(
            "ctrl+o",
            "copy_answer",
            "Copy",
            id="prompt.copy",
            tooltip="Copy the answer to the clipboard (OSC 52; works over SSH)",
        ),
        Binding(
            "ctrl+l",
            "sources",
            "Sources",
            id="prompt.sources",
            tooltip="Jump to the sources the answer was grounded on",
        ),
        Binding(
            "ctrl+g",
            "promote",
            "Promote",
            id="prompt.promote",
            tooltip="Append this answer's question to an eval set as a new case",
        ),
    ]

    ab: reactive[bool] = reactive(False, init=False)

    @dataclasses.dataclass
    class VariantChanged(Message):
        """The active variant (pane A) changed; `label` is what the header shows."""

        label: str

    def __init__(self, project: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.can_promote = promote_available()
        self.memory = PromptMemory(project)
        self.saved_text = ("", "")  # the loaded variant's system prompt and template as saved
        self._save_timer: Any = None

    def compose(self) -> ComposeResult:
        # Everything the first screen shows is built here, filled in, so the first paint needs
        # no second layout pass (no mounting or text loading in on_mount).
        options = variant_options(self.project)
        self.choice_a = self.memory.choice("variant_a", options, BASE)
        try:
            variant = resolve_choice(self.project, self.choice_a, None)
        except WorkbenchError as exc:
            self.startup_error: str | None = str(exc)
            system, template, names, defaults = "", "", [], {}
        else:
            self.startup_error = None
            self.saved_text = (variant.system_prompt or "", variant.prompt.spec.template)
            system, template = self.memory.draft(self.choice_a) or self.saved_text
            names = (
                variant.prompt.variables
                if template == self.saved_text[1]
                else self._names(template, variant.prompt.variables)
            )
            inputs = self.memory.get("inputs")
            defaults = {**variant.prompt.spec.defaults, **(inputs if isinstance(inputs, dict) else {})}
        with VerticalScroll(id="editor"):
            yield Picker("Variant A", options, self.choice_a, id="variant-select")
            yield Picker("Model", model_options(self.project), BASE, id="model-select")
            yield Label("System prompt", id="system-label", classes="field-label")
            yield TextArea(system, id="system-text", compact=True, soft_wrap=True)
            yield Label("Template", id="template-label", classes="field-label")
            yield TextArea(template, id="template-text", compact=True, soft_wrap=True)
            yield Static("", id="template-error")
            yield Label("Variables", classes="field-label")
            yield VariablesForm(names, defaults, id="variables")
        label = "base" if self.choice_a == BASE else self.choice_a.removeprefix("prompt:")
        with Horizontal(id="answers"):
            yield AnswerPane(self.project, "A", title=label, id="answer-a")
        # Pane B and its picker are mounted the first time A/B mode is switched on.

    @staticmethod
    def _names(template: str, fallback: list[str]) -> list[str]:
        try:
            return template_variables(template)
        except WorkbenchError:
            return fallback

    async def on_mount(self) -> None:
        if self.startup_error:
            self.notify(self.startup_error, severity="error", markup=False)
        self.call_after_refresh(self.focus_first_field)
        self._show_modified()
        if self.choice_a != BASE:
            self.post_message(self.VariantChanged(self.choice_a.removeprefix("prompt:")))
        if self.memory.get("ab") is True:
            await self.action_toggle_ab()
        # The answers on show when the app was closed come back from runs.db after the first
        # paint: opening the store (sqlite_utils) and rendering Markdown cost ~150 ms that the
        # first frame does not need.
        answers = self.memory.get("answers")
        if isinstance(answers, dict) and any(isinstance(v, int) for v in answers.values()):
            self.call_after_refresh(self._restore_answers, answers)

    async def _restore_answers(self, answers: dict[str, Any]) -> None:
        """Show again the answers that were on show when the app was closed (from runs.db)."""
        for pane in self.panes():
            generation_id = answers.get(pane.slot)
            if not isinstance(generation_id, int):
                continue
            row = stored_answer(self.project.store, generation_id)
            if row is not None:
                await pane.restore(row)

    def focus_first_field(self) -> bool:
        """Put the cursor where a user starts: the first variable (usually the question)."""
        fields = self.query(".var-input")
        if fields:
            fields.first().focus()
            return True
        return False

    # -- editor state --------------------------------------------------------------------------
    def _model(self) -> str | None:
        value = self.query_one("#model-select", Picker).value
        return None if value in (BASE, None) else str(value)

    def _editor_text(self) -> tuple[str, str]:
        return (self.query_one("#system-text", TextArea).text, self.query_one("#template-text", TextArea).text)

    async def _load_choice(self, choice: str) -> None:
        """Show `choice` in the editor; the unsaved edit of the variant left is kept for when
        the user comes back to it (and in state.json)."""
        try:
            variant = resolve_choice(self.project, choice, self._model())
        except WorkbenchError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.memory.stash(self.choice_a, *self._editor_text(), self.saved_text)
        self.choice_a = choice
        self.saved_text = (variant.system_prompt or "", variant.prompt.spec.template)
        system, template = self.memory.draft(choice) or self.saved_text
        self.query_one("#system-text", TextArea).load_text(system)
        self.query_one("#template-text", TextArea).load_text(template)
        self.memory.remember(variant_a=choice)
        self._remember()
        await self.query_one(VariablesForm).set_variables(variant.prompt.variables, variant.prompt.spec.defaults)
        label = variant.name or "base"
        self.query_one("#answer-a", AnswerPane).set_title(label)
        self.post_message(self.VariantChanged(label))

    @on(Picker.Changed, "#variant-select")
    async def _variant_changed(self, event: Picker.Changed) -> None:
        await self._load_choice(str(event.value))

    @on(Picker.Changed, "#variant-b-select")
    def _variant_b_changed(self, event: Picker.Changed) -> None:
        label = "base" if event.value == BASE else str(event.value).removeprefix("prompt:")
        self.query_one("#answer-b", AnswerPane).set_title(label)
        self.memory.remember(variant_b=event.value)
        self._remember()

    @on(TextArea.Changed, "#system-text, #template-text")
    def _editor_changed(self) -> None:
        self._show_modified()
        self.memory.stash(self.choice_a, *self._editor_text(), self.saved_text)
        self._remember(later=True)

    def _show_modified(self) -> None:
        """'Template · modified' from the first edit, so an unsaved change is never a surprise."""
        editing = " · editing A" if self.ab else ""
        system, template = self._editor_text()
        for name, label_id, changed in (
            ("System prompt", "#system-label", system != self.saved_text[0]),
            ("Template", "#template-label", template != self.saved_text[1]),
        ):
            self.query_one(label_id, Label).update(f"{name}{editing}" + (" · modified" if changed else ""))

    def _remember(self, later: bool = False) -> None:
        """Write state.json now, or (while typing) once the keys stop for a second."""
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        if later:
            self._save_timer = self.set_timer(1.0, self._remember)
            return
        problem = self.memory.write()
        if problem:
            self.notify(problem, severity="warning", markup=False)

    def on_unmount(self) -> None:
        if self._save_timer is not None:
            self._remember()

    @on(TextArea.Changed, "#template-text")
    async def _template_changed(self, event: TextArea.Changed) -> None:
        error = self.query_one("#template-error", Static)
        try:
            names = template_variables(event.text_area.text)
        except WorkbenchError as exc:
            error.update(Text(exc.message))
            return
        error.update("")
        await self.query_one(VariablesForm).set_variables(names)

    def variant_a(self) -> Variant:
        choice = str(self.query_one("#variant-select", Picker).value)
        variant = resolve_choice(self.project, choice, self._model())
        return with_edits(
            variant, self.query_one("#template-text", TextArea).text, self.query_one("#system-text", TextArea).text
        )

    def variant_b(self) -> Variant:
        choice = str(self.query_one("#variant-b-select", Picker).value)
        return resolve_choice(self.project, choice, self._model())

    def panes(self) -> list[AnswerPane]:
        panes = [self.query_one("#answer-a", AnswerPane)]
        if self.ab:
            panes.append(self.query_one("#answer-b", AnswerPane))
        return panes

    def focused_pane(self) -> AnswerPane:
        focused = self.screen.focused
        for pane in self.panes():
            if focused is not None and pane in focused.ancestors_with_self:
                return pane
        return self.panes()[0]

    # -- actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "promote":
            return True if self.can_promote and self.focused_pane().generation_id else None
        if action == "copy_answer":
            return True if self.focused_pane().text else None
        if action == "cancel":
            return True if any(p.streaming for p in self.panes()) else None
        return True

    def action_send(self) -> None:
        inputs = self.query_one(VariablesForm).values()
        if inputs and not any(v.strip() for v in inputs.values()):
            self.notify("Fill in the variables first (e.g. the question).", severity="warning")
            return
        try:
            variants = [self.variant_a()] + ([self.variant_b()] if self.ab else [])
        except WorkbenchError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        for pane, variant in zip(self.panes(), variants, strict=False):
            pane.start(variant, inputs)
        self.memory.remember(inputs=inputs)
        self._remember()
        self.refresh_bindings()

    def action_cancel(self) -> None:
        if any([pane.cancel() for pane in self.panes()]):
            self.notify("Cancelled — the partial answer is kept (stored as interrupted).", timeout=3)
        self.refresh_bindings()

    async def action_toggle_ab(self) -> None:
        if not self.query("#answer-b"):
            # B is the variant last compared, else the first that is not A: base vs base
            # compares nothing
            options = variant_options(self.project)
            others = [v for _, v in options if v != self.choice_a] or [BASE]
            picker = Picker(
                "Variant B",
                options,
                self.memory.choice("variant_b", options, others[0]),
                id="variant-b-select",
                classes="b-only",
            )
            hint = Static("B: as saved; the editor is A", id="b-hint", classes="b-only")
            await self.query_one("#editor").mount_all([picker, hint], after="#variant-select")
            value = str(picker.value)
            label = "base" if value == BASE else value.removeprefix("prompt:")
            await self.query_one("#answers").mount(AnswerPane(self.project, "B", title=label, id="answer-b"))
        self.ab = not self.ab
        self.memory.remember(ab=self.ab)
        self._remember()

    def watch_ab(self, ab: bool) -> None:
        self.set_class(ab, "-ab")
        self._show_modified()
        self.refresh_bindings()

    def action_copy_answer(self) -> None:
        pane = self.focused_pane()
        if not pane.text:
            self.notify("No answer to copy yet.", severity="warning")
            return
        from workbench.tui.clipboard import copy_text

        copy_text(self, pane.text, f"Answer {pane.slot}")

    def action_sources(self) -> None:
        """Cursor to the focused pane's sources; pressed there, on to the other pane's."""
        panes = self.panes()
        start = panes.index(self.focused_pane())
        here = panes[start].sources_list()
        if here is not None and here.has_focus:
            start += 1
        if not any(pane.focus_sources() for pane in panes[start:] + panes[:start]):
            self.notify(
                "This answer has no sources (the prompt has no {context}, or retrieval was unavailable).",
                severity="warning",
                markup=False,
            )

    def action_save_variant(self) -> None:
        from workbench.core.variant_files import save_prompt_variant
        from workbench.tui.screens.save_variant import SaveVariantScreen

        base = resolve_choice(self.project, str(self.query_one("#variant-select", Picker).value), None)

        def save(name: str) -> Any:
            return save_prompt_variant(
                self.project,
                name,
                template=self.query_one("#template-text", TextArea).text,
                system=self.query_one("#system-text", TextArea).text or None,
                base=base.prompt,
                model=self._model(),
            )

        self.app.push_screen(SaveVariantScreen(save), self._saved)

    async def _saved(self, saved: Any) -> None:
        if saved is None:
            return
        options = variant_options(self.project)
        for picker in self.query("#variant-select, #variant-b-select").results(Picker):
            picker.set_options(options)
            if picker.value not in [value for _, value in options]:
                picker.value = BASE
        # A now names the saved edit; B keeps its choice (it answers as saved either way).
        # The edit is saved, so it is no longer a draft of the variant it started from.
        self.saved_text = self._editor_text()
        value = saved.name if saved.config_updated else f"prompt:{saved.name}"
        self.query_one("#variant-select", Picker).value = value
        self.notify(saved.message, timeout=4, markup=False)

    def action_promote(self) -> None:
        pane = self.focused_pane()
        if pane.generation_id is None:
            self.notify("Finish an answer first: only stored answers can be promoted.", severity="warning")
            return
        from workbench.tui.promote_flow import open_promote

        open_promote(self, pane.generation_id, f"pane {pane.slot} · {pane.shown_label()}")

    @on(AnswerPane.Finished)
    def _pane_finished(self, event: AnswerPane.Finished) -> None:
        self.memory.remember(answers={p.slot: p.generation_id for p in self.panes() if p.generation_id is not None})
        self._remember()
        self.refresh_bindings()

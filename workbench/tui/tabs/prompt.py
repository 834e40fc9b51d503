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
import importlib.util
from pathlib import Path
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
from workbench.core.prompts import Prompt, template_variables
from workbench.core.variants import Variant, resolve_variant
from workbench.tui.widgets.answer import AnswerPane
from workbench.tui.widgets.picker import Picker
from workbench.tui.widgets.variables import VariablesForm

BASE = "__base__"
PROMOTE_MODULE = "workbench.core.evals.promote"


def promote_available() -> bool:
    """Whether this build has the evals promote step (another part of the project)."""
    try:
        return importlib.util.find_spec(PROMOTE_MODULE) is not None
    except ImportError:
        return False


def variant_options(project: Any) -> list[tuple[str, str]]:
    """(label, value) for the variant picker: base, named variants, then other prompt files."""
    try:
        base_prompt = project.prompt().name
    except WorkbenchError:
        base_prompt = project.config.default_prompt or "?"
    options = [(f"base ({base_prompt})", BASE)]
    options += [(name, name) for name in project.config.variants]
    used = {v.prompt for v in project.config.variants.values()} | {project.config.default_prompt}
    options += [(f"prompt: {name}", f"prompt:{name}") for name in project.prompts if name not in used]
    return options


def model_options(project: Any) -> list[tuple[str, str]]:
    """(label, value) for the model picker: the variant's own, then every model in the chain."""
    specs: list[str] = []
    for spec in [project.config.model.spec, *project.config.fallback, "embedded"]:
        if spec not in specs:
            specs.append(spec)
    return [("the variant's model", BASE)] + [(spec, spec) for spec in specs]


def resolve_choice(project: Any, choice: str, model: str | None) -> Variant:
    """The Variant a picker value stands for, with an optional model override."""
    if choice.startswith("prompt:"):
        variant = resolve_variant(project, None, prompt=choice[len("prompt:"):], model=model)
        variant.name = choice[len("prompt:"):]
        return variant
    return resolve_variant(project, None if choice == BASE else choice, model=model)


def with_edits(variant: Variant, template: str, system: str) -> Variant:
    """`variant` with the editor's template and system prompt (unchanged parts stay shared)."""
    edited = False
    if template != variant.prompt.spec.template:
        spec = dataclasses.replace(variant.prompt.spec, template=template)
        prompt = Prompt(name=f"{variant.prompt.name}*", spec=spec, path=variant.prompt.path,
                        template_line=variant.prompt.template_line)
        prompt.variables  # raises WorkbenchError for a malformed template, before any call
        variant = dataclasses.replace(variant, prompt=prompt)
        edited = True
    if system != (variant.system_prompt or ""):
        variant = dataclasses.replace(variant, system=system or None)
        edited = True
    if edited:
        variant = dataclasses.replace(variant, name=f"{variant.name or 'base'} (edited)")
    return variant


class PromptTab(Horizontal):
    """Prompt editing, streaming answers, A/B comparison."""

    BINDINGS = [
        Binding("ctrl+r", "send", "Send", id="prompt.send",
                tooltip="Send the prompt (both variants in A/B mode)"),
        Binding("escape", "cancel", "Cancel", id="prompt.cancel",
                tooltip="Stop the answer; the partial text is kept and stored as interrupted"),
        Binding("ctrl+t", "toggle_ab", "A/B", id="prompt.ab",
                tooltip="Two variants answer the same input side by side"),
        Binding("ctrl+s", "save_variant", "Save", id="prompt.save_variant",
                tooltip="Save the template and system prompt as a new named variant"),
        Binding("ctrl+o", "copy_answer", "Copy", id="prompt.copy",
                tooltip="Copy the answer to the clipboard (OSC 52; works over SSH)"),
        Binding("ctrl+l", "sources", "Sources", id="prompt.sources",
                tooltip="Jump to the sources the answer was grounded on"),
        Binding("ctrl+g", "promote", "Promote", id="prompt.promote",
                tooltip="Append this answer's question to an eval set as a new case"),
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

    def compose(self) -> ComposeResult:
        # Everything the first screen shows is built here, filled in, so the first paint needs
        # no second layout pass (no mounting or text loading in on_mount).
        try:
            variant = resolve_choice(self.project, BASE, None)
        except WorkbenchError as exc:
            self.startup_error: str | None = str(exc)
            system, template, names, defaults = "", "", [], {}
        else:
            self.startup_error = None
            system, template = variant.system_prompt or "", variant.prompt.spec.template
            names, defaults = variant.prompt.variables, variant.prompt.spec.defaults
        with VerticalScroll(id="editor"):
            yield Picker("Variant A", variant_options(self.project), BASE, id="variant-select")
            yield Picker("Model", model_options(self.project), BASE, id="model-select")
            yield Label("System prompt", id="system-label", classes="field-label")
            yield TextArea(system, id="system-text", compact=True, soft_wrap=True)
            yield Label("Template", id="template-label", classes="field-label")
            yield TextArea(template, id="template-text", compact=True, soft_wrap=True)
            yield Static("", id="template-error")
            yield Label("Variables", classes="field-label")
            yield VariablesForm(names, defaults, id="variables")
        with Horizontal(id="answers"):
            yield AnswerPane(self.project, "A", title="base", id="answer-a")
        # Pane B and its picker are mounted the first time A/B mode is switched on.

    def on_mount(self) -> None:
        if self.startup_error:
            self.notify(self.startup_error, severity="error", markup=False)
        self.call_after_refresh(self.focus_first_field)

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

    async def _load_choice(self, choice: str) -> None:
        try:
            variant = resolve_choice(self.project, choice, self._model())
        except WorkbenchError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.query_one("#system-text", TextArea).load_text(variant.system_prompt or "")
        self.query_one("#template-text", TextArea).load_text(variant.prompt.spec.template)
        await self.query_one(VariablesForm).set_variables(variant.prompt.variables,
                                                          variant.prompt.spec.defaults)
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
        return with_edits(variant, self.query_one("#template-text", TextArea).text,
                          self.query_one("#system-text", TextArea).text)

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
        for pane, variant in zip(self.panes(), variants):
            pane.start(variant, inputs)
        self.refresh_bindings()

    def action_cancel(self) -> None:
        if any([pane.cancel() for pane in self.panes()]):
            self.notify("Cancelled — the partial answer is kept (stored as interrupted).",
                        timeout=3)
        self.refresh_bindings()

    async def action_toggle_ab(self) -> None:
        if not self.query("#answer-b"):
            picker = Picker("Variant B", variant_options(self.project), BASE,
                            id="variant-b-select", classes="b-only")
            hint = Static("B: as saved; the editor is A", id="b-hint", classes="b-only")
            await self.query_one("#editor").mount_all([picker, hint], after="#variant-select")
            await self.query_one("#answers").mount(
                AnswerPane(self.project, "B", title="base", id="answer-b"))
        self.ab = not self.ab

    def watch_ab(self, ab: bool) -> None:
        self.set_class(ab, "-ab")
        editing = " · editing A" if ab else ""
        self.query_one("#system-label", Label).update(f"System prompt{editing}")
        self.query_one("#template-label", Label).update(f"Template{editing}")
        self.refresh_bindings()

    def action_copy_answer(self) -> None:
        pane = self.focused_pane()
        if not pane.text:
            self.notify("No answer to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(pane.text)
        self.notify(f"Answer {pane.slot} copied to the clipboard (OSC 52).", timeout=2)

    def action_sources(self) -> None:
        """Cursor to the focused pane's sources; pressed there, on to the other pane's."""
        panes = self.panes()
        start = panes.index(self.focused_pane())
        here = panes[start].sources_list()
        if here is not None and here.has_focus:
            start += 1
        if not any(pane.focus_sources() for pane in panes[start:] + panes[:start]):
            self.notify("This answer has no sources (the prompt has no {context}, or retrieval "
                        "was unavailable).", severity="warning", markup=False)

    def action_save_variant(self) -> None:
        from workbench.tui.screens.save_variant import SaveVariantScreen
        from workbench.tui.variant_files import save_prompt_variant

        base = resolve_choice(self.project, str(self.query_one("#variant-select", Picker).value),
                              None)

        def save(name: str) -> Any:
            return save_prompt_variant(
                self.project, name, template=self.query_one("#template-text", TextArea).text,
                system=self.query_one("#system-text", TextArea).text or None,
                base=base.prompt, model=self._model())

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
        value = saved.name if saved.config_updated else f"prompt:{saved.name}"
        self.query_one("#variant-select", Picker).value = value
        self.notify(saved.message, timeout=4, markup=False)

    def action_promote(self) -> None:
        pane = self.focused_pane()
        if not self.can_promote:
            self.notify("Promote needs workbench.core.evals.promote, which this build lacks.",
                        severity="warning")
            return
        if pane.generation_id is None:
            self.notify("Finish an answer first: only stored answers can be promoted.",
                        severity="warning")
            return
        from workbench.tui.screens.promote import PromoteScreen

        evals = self.project.config.evals
        default = Path(evals.dir) / (evals.default_set or "promoted.yaml")

        def promote(generation_id: int, to: Path, expected: str | None) -> Any:
            from workbench.core.evals.promote import promote_generation

            target = to if to.is_absolute() else self.project.root / to
            return promote_generation(self.project.store, generation_id, target, expected=expected)

        def done(case: Any) -> None:
            if case is not None:
                self.notify(f"Added case '{case.id}' to {case.path.name} (line {case.line}).",
                            timeout=4, markup=False)

        self.app.push_screen(PromoteScreen(pane.generation_id, default, promote), done)

    @on(AnswerPane.Finished)
    def _pane_finished(self, event: AnswerPane.Finished) -> None:
        self.refresh_bindings()

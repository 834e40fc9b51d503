"""A project folder: its config, prompts, data folder and run store, opened on demand.

Opening a project reads workbench.yaml only; the database is created the first time something
needs it, so `workbench --help` or a config error never leaves files behind.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.config import Config, load_config
from workbench.core.errors import WorkbenchError
from workbench.core.prompts import DEFAULT_PROMPT, Prompt, load_prompts

if TYPE_CHECKING:  # importing the store pulls in sqlite_utils (+numpy): ~0.25 s of TUI start-up
    from workbench.core.store import Store


class Project:
    """Config + prompts + store for one folder."""

    def __init__(self, root: Path, config: Config | None = None) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise WorkbenchError(
                f"not a workbench project: the folder {self.root} does not exist "
                f"(check the path, or run `workbench init {self.root}` to start one)"
            )
        self.config = config if config is not None else load_config(self.root)
        self.read_only = False  # set by read-only commands: a missing runs.db is then not created

    @classmethod
    def open(cls, root: str | Path | None = None) -> Project:
        return cls(Path(root or "."))

    @property
    def name(self) -> str:
        return self.config.name or self.root.name

    @property
    def data_dir(self) -> Path:
        return (self.root / self.config.data_dir).resolve()

    def data_dir_outside(self) -> str | None:
        """A warning when data_dir resolves outside the project folder (`../../x`): runs.db and
        the index are then written somewhere the user may not expect; None inside it."""
        d = self.data_dir
        if d == self.root or self.root in d.parents:
            return None
        line = self.config.line_of("data_dir") if self.config.path else None
        where = f"{self.config.path}:{line}: " if line else ""
        return (
            f"{where}data_dir {self.config.data_dir!r} is outside the project folder {self.root}: "
            f"runs.db and the retrieval index are written to {d}"
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "runs.db"

    @cached_property
    def store(self) -> Store:
        from workbench.core.store import Store

        if self.read_only and not self.db_path.exists():  # nothing stored yet: an empty store
            return Store(Path(":memory:"))
        return Store(self.db_path)

    @cached_property
    def prompts(self) -> dict[str, Prompt]:
        return load_prompts(self.root / self.config.prompts_dir)

    def prompt(self, name: str | None = None, *, keypath: tuple[Any, ...] | None = None) -> Prompt:
        """The named prompt, the configured default, the first one, or a bare `{question}`.

        `keypath` says where in workbench.yaml `name` came from (e.g. a variant's `prompt:`);
        without it an explicit name came from the command line or the UI, not the file.
        """
        prompts = self.prompts
        wanted = name or self.config.default_prompt
        if wanted:
            if wanted not in prompts:
                known = ", ".join(prompts) or "none"
                message = f"no prompt named '{wanted}' in {self.config.prompts_dir}/ (found: {known})"
                if name and keypath is None:
                    raise WorkbenchError(message, field="--prompt")
                keypath = keypath or ("default_prompt",)
                raise WorkbenchError(
                    message, path=self.config.path, line=self.config.line_of(*keypath), field=".".join(keypath)
                )
            return prompts[wanted]
        return next(iter(prompts.values()), DEFAULT_PROMPT)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

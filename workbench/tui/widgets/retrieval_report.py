"""Theme colours for the Retrieval tab's text; the text itself is `workbench/present/retrieval.py`.

Rich cannot read Textual's CSS variables, so `theme_styles(app)` resolves the few theme colours
the tab uses into plain colours once per theme (the tab re-renders when the theme changes).
"""

from __future__ import annotations

from typing import Any


def theme_styles(app: Any) -> dict[str, str]:
    """Rich styles for the tab's roles, from the current theme's colours."""
    from textual.color import Color

    variables = app.get_css_variables()
    try:
        background = Color.parse(variables.get("background", "black"))
    except Exception:  # noqa: BLE001 - an odd theme value falls back to a plain style
        background = Color(0, 0, 0)

    def colour(name: str, fallback: str) -> str:
        try:
            return (background + Color.parse(variables[name])).hex6
        except Exception:  # noqa: BLE001
            return fallback

    return {
        "term": f"bold {colour('accent', 'yellow')}",
        "selected": f"on {colour('primary-muted', 'blue')}",
        "marker": colour("secondary", "magenta"),
        "marker_selected": f"bold {colour('primary', 'blue')}",
        "gold": f"bold {colour('success', 'green')}",
        "note": f"italic {colour('warning', 'yellow')}",
        "warning": colour("warning", "yellow"),
        "error": colour("error", "red"),
        "ok": colour("success", "green"),
    }

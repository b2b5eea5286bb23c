"""``medfuse plugins``: the plugin modules loaded and what each registered."""

from __future__ import annotations

import typer
from rich.markup import escape

from medfuse.cli._common import console


def plugins(ctx: typer.Context) -> None:
    """List the plugin modules (entry points medfuse.plugins and MEDFUSE_PLUGINS) and the
    kinds, strategies, representations, transforms, loss terms and encoders each added."""
    from medfuse.plugins import plugin_modules

    loaded = ctx.obj or []
    if not loaded:
        listed = plugin_modules()
        console.print("no plugin modules" + ("" if listed else " (none listed in the "
                                               "medfuse.plugins entry point group or "
                                               "MEDFUSE_PLUGINS)"))
        return
    for plugin in loaded:
        console.print(f"[bold]{escape(plugin.module)}[/bold] ({escape(plugin.source)})")
        if not plugin.registered:
            console.print("  registered nothing")
        for label, names in plugin.registered.items():
            console.print(f"  {label}: {escape(', '.join(names))}")

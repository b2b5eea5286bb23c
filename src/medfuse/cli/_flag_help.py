"""Help screens that show no value type next to flags.

Since typer vendored its own copy of click (typer 0.2x; 0.29 here), every option of a help
screen gets a type tag such as ``<int>`` or ``<path>``. The rich help panel asks every
parameter for its tag, flags included, so ``--help``, ``--version`` and ``--resume`` read
``<bool>`` as if they took a value. typer's plain help and the rich panel of earlier typer
versions (over click 8, which skipped the ``BOOLEAN`` metavar) show nothing there.

:class:`FlagHelpGroup` gives every flag (and counting option) of the group and of its
commands an empty metavar, which is what the panel prints instead of the tag. Use it as the
group class of the application: ``typer.Typer(..., cls=FlagHelpGroup)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from typer.core import TyperGroup


def untag_flags(params: Iterable) -> None:
    """Give each flag or counting option in ``params`` without a metavar an empty one."""
    for param in params:
        takes_no_value = getattr(param, "is_flag", False) or getattr(param, "count", False)
        if takes_no_value and getattr(param, "metavar", None) is None:
            param.metavar = ""


class FlagHelpGroup(TyperGroup):
    """A typer command group whose help screens, and those of its commands, show no value
    type next to flags (see the module docstring), and whose commands end in one ``error:``
    line, never a traceback, whatever goes wrong (exit 2)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as err:  # the last line of defence: one message, no traceback
            if type(err).__module__.split(".")[0] in ("typer", "click"):
                raise  # usage errors, exits and aborts of the command line itself
            from medfuse.cli._common import fail

            command = ctx.invoked_subcommand or ctx.info_name
            fail(f"medfuse {command} stopped on {type(err).__name__}: {err}")

    def get_params(self, ctx):
        params = super().get_params(ctx)
        untag_flags(params)
        return params

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            untag_flags(cmd.params)
            help_option = cmd.get_help_option(ctx)  # cached by the command
            if help_option is not None:
                untag_flags([help_option])
        return cmd

"""The `hawk` command: a Typer app whose commands live in :mod:`hawk_cli.commands`.

Heavy libraries are imported inside the commands, so `hawk --help` stays instant.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hawk_cli._common import HawkGroup
from hawk_core import __version__

app = typer.Typer(
    name="hawk",
    cls=HawkGroup,
    help="HAWK: understand open-world video anomalies with a motion-aware video-language model.\n\n"
    "Extract motion (flow), motion language (parse), build datasets (annotate, review, split, synth), "
    "train the dual-branch model (train), convert the authors' checkpoint (convert), run it (describe, ask, "
    "chat, predict, serve), find when anomalies happen (detect) and score it (score).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hawk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


def _register() -> None:
    from hawk_cli._common import HawkCommand  # noqa: I001
    from hawk_cli.commands import REGISTRY

    for name, func in REGISTRY:
        app.command(name, cls=HawkCommand)(func)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

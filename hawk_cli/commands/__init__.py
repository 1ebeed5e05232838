"""Every `hawk` subcommand, one module each; REGISTRY lists them in help order."""

from hawk_cli.commands.flow import flow
from hawk_cli.commands.parse import parse
from hawk_cli.commands.score import score

REGISTRY = [
    ("flow", flow),
    ("parse", parse),
    ("score", score),
]

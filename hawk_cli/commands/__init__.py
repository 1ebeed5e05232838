"""Every `hawk` subcommand, one module each; REGISTRY lists them in help order."""

from hawk_cli.commands.flow import flow
from hawk_cli.commands.parse import parse

REGISTRY = [
    ("flow", flow),
    ("parse", parse),
]

"""Every `hawk` subcommand, one module each; REGISTRY lists them in help order."""

from hawk_cli.commands.flow import flow

REGISTRY = [
    ("flow", flow),
]

"""Every `hawk` subcommand, one module each; REGISTRY lists them in help order."""

from hawk_cli.commands.ask import ask
from hawk_cli.commands.chat import chat
from hawk_cli.commands.describe import describe
from hawk_cli.commands.flow import flow
from hawk_cli.commands.parse import parse
from hawk_cli.commands.predict import predict
from hawk_cli.commands.score import score

REGISTRY = [
    ("flow", flow),
    ("parse", parse),
    ("describe", describe),
    ("ask", ask),
    ("chat", chat),
    ("predict", predict),
    ("score", score),
]

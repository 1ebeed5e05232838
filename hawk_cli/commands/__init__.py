"""Every `hawk` subcommand, one module each; REGISTRY lists them in help order."""

from hawk_cli.commands.annotate import annotate
from hawk_cli.commands.ask import ask
from hawk_cli.commands.chat import chat
from hawk_cli.commands.convert import convert
from hawk_cli.commands.describe import describe
from hawk_cli.commands.detect import detect
from hawk_cli.commands.flow import flow
from hawk_cli.commands.parse import parse
from hawk_cli.commands.predict import predict
from hawk_cli.commands.review import review
from hawk_cli.commands.score import score
from hawk_cli.commands.serve import serve
from hawk_cli.commands.split import split
from hawk_cli.commands.synth import synth
from hawk_cli.commands.train import train

REGISTRY = [
    ("flow", flow),
    ("parse", parse),
    ("annotate", annotate),
    ("review", review),
    ("split", split),
    ("synth", synth),
    ("train", train),
    ("convert", convert),
    ("describe", describe),
    ("ask", ask),
    ("chat", chat),
    ("predict", predict),
    ("detect", detect),
    ("score", score),
    ("serve", serve),
]

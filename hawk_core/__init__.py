"""hawk_core: the library behind the `hawk` command.

Everything here raises typed errors (:mod:`hawk_core.errors`) and never prints or exits;
the CLI in :mod:`hawk_cli` is the one place that turns them into messages.
Heavy dependencies (torch, transformers, cv2, spacy) are imported by the modules that
need them, so importing :mod:`hawk_core` itself is cheap.
"""

__version__ = "0.1.0.dev0"

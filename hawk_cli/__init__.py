"""hawk_cli: the `hawk` command line, thin wrappers over :mod:`hawk_core`."""

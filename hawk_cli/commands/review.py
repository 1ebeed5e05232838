"""`hawk review`: check generated annotations by hand (accept / edit / reject), resumable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import console, guarded, plural

HELP_KEYS = "[bold]a[/]ccept  [bold]e[/]dit  [bold]r[/]eject  [bold]s[/]kip  [bold]b[/]ack  [bold]q[/]uit"


def _ask(prompt: str) -> str | None:
    """One line from stdin (works with a pipe or a script); None at end of input."""
    console.print(prompt, end="", markup=True, highlight=False)
    line = sys.stdin.readline()
    if not line:
        console.print()
        return None
    return line.rstrip("\n")


@guarded
def review(
    dataset: Annotated[Path, typer.Argument(help="Dataset written by `hawk annotate` (a JSON list of HAWK records).", show_default=False)],
    decisions: Annotated[Optional[Path], typer.Option("--decisions", help="Review log (default: DATASET.review.jsonl next to the dataset).")] = None,
    export: Annotated[Optional[Path], typer.Option("--export", "-e", help="Write the accepted and edited records to this new JSON file at the end.")] = None,
    export_only: Annotated[bool, typer.Option("--export-only", help="Do not review; only export (and show the counts).")] = False,
    redo: Annotated[bool, typer.Option("--redo", help="Go through every record again, decided ones included.")] = False,
    frames: Annotated[bool, typer.Option("--frames/--no-frames", help="Write a key-frame contact sheet per record (DATASET.review/NNNN.jpg) to look at.")] = True,
    web: Annotated[bool, typer.Option("--web", help="Review in the browser instead: a local page on 127.0.0.1 with the video playing (Ctrl-C to stop).")] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port of --web (0: any free port).")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the --web page in the default browser.")] = False,
) -> None:
    """Check annotations by hand, as the paper's manual check (appendix D): for each record
    see its key frames, clip captions, description and QA, then accept, edit or reject it.

    The dataset is never modified: decisions (with edits, time and reviewer) go to
    DATASET.review.jsonl, one line each, saved at once; run the command again to resume
    where you left off. `--export` writes the accepted and edited records to a new file.

    Keys: a accept, e edit (description, then each question and answer: Enter keeps a
    field, '-' deletes a QA pair; then new pairs), r reject, s skip, b back, q quit.
    Input may come from a pipe or script (one answer per line).

    `--web` serves the same review as a page on 127.0.0.1 (video playing, captions,
    editable description and QA, keys a / r / n / p); decisions go to the same file.

    Examples:
      hawk review data.json
      hawk review data.json --web --export data.reviewed.json     # then open http://127.0.0.1:8765/
      hawk review data.json --export data.reviewed.json
      hawk review data.json --export-only --export data.reviewed.json
    """
    from hawk_core.io import check_output_path
    from hawk_core.review.log import ReviewLog

    if export is not None:
        check_output_path(export)  # before the review, not after it
    with ReviewLog(dataset, decisions) as log:
        if web and not export_only:
            _serve(log, port, export, open_browser)
            return
        todo = [] if export_only else log.pending(redo)
        if not export_only:
            c = log.counts()
            total = len(log.records)
            console.print(f"{total} records, {total - c['pending']} decided, {len(todo)} to review; decisions -> {log.path}")
        pos = 0
        while pos < len(todo):
            i = todo[pos]
            rec = log.current(i)
            _show(log, i, rec, dataset, frames)
            step = _decide(log, i, rec)
            if step is None:
                break
            pos = max(0, pos + step)
        c = log.counts()
        console.print(f"accepted {c['accept']}, edited {c['edit']}, rejected {c['reject']}, pending {c['pending']} ({log.path})")
        if export is not None:
            n = log.export(export)
            console.print(f"exported {plural(n, 'record')} -> {export}")


def _show(log, i: int, rec: dict, dataset: Path, frames: bool) -> None:
    """One record as the reviewer sees it: header, provenance, key frames, clip captions,
    description and QA."""
    from rich.panel import Panel
    from rich.table import Table

    from hawk_core.errors import HawkError
    from hawk_core.review.log import key_frame_sheet

    prov = rec.get("provenance", {}) if isinstance(rec.get("provenance"), dict) else {}
    head = f"[bold]record {i + 1}/{len(log.records)}[/]  {rec['video']}"
    if prov.get("low_quality"):
        head += "  [yellow](LOW QUALITY: embedded model)[/]"
    if i in log.decisions:
        head += f"  [dim](was: {log.decisions[i]['decision']})[/]"
    console.rule(head)
    if prov:
        cap = prov.get("captioner", {})
        console.print(f"[dim]llm {prov.get('llm', '?')}, captioner {cap.get('captioner', cap) if isinstance(cap, dict) else cap}, prompts {prov.get('prompt_version', '?')}[/]")
    if frames:
        target = dataset.with_name(dataset.stem + ".review") / f"{i + 1:04d}.jpg"
        try:
            if not target.exists():
                key_frame_sheet(log.video_path(i), target)
            console.print(f"key frames: {target}")
        except HawkError as e:
            console.print(f"[dim]key frames unavailable: {e}[/]")
    clips = prov.get("clips") or []
    if clips:
        t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        t.add_column("clip", no_wrap=True)
        t.add_column("caption")
        for c in clips:
            span = f"{c['start']:.1f}-{c['end']:.1f}s" if c.get("start") is not None and c.get("end") is not None else "-"
            t.add_row(span, c["caption"])
        console.print(t)
    console.print(Panel(rec["description"], title="description", title_align="left"))
    for k, qa in enumerate(rec.get("QA", []), 1):
        console.print(f"[bold]Q{k}[/] {qa['q']}\n[bold]A{k}[/] {qa['a']}")


def _decide(log, i: int, rec: dict) -> int | None:
    """Ask for one key and act on it: how far to move in the list (1 on, 0 again, -1 back),
    or None to stop (quit, or the end of the input)."""
    ans = _ask(f"{HELP_KEYS} > ")
    if ans is None:
        console.print("end of input; decisions so far are saved")
        return None
    key = ans.strip().lower()[:1]
    if key in ("a", "r"):
        log.decide(i, "accept" if key == "a" else "reject")
    elif key == "e":
        edited = _edit(rec)
        if edited is None:
            console.print("end of input during the edit; this record was not changed")
            return None
        log.decide(i, "edit", edited)
        console.print("[green]saved the edit[/]")
    elif key == "b":
        return -1
    elif key == "q":
        console.print("stopped; run the same command to resume")
        return None
    elif key != "s":
        console.print(f"[yellow]unknown key {ans!r}[/]")
        return 0
    return 1


def _serve(log, port: int, export: Path | None, open_browser: bool) -> None:
    from hawk_core.errors import InputError
    from hawk_core.review.web import ReviewServer

    try:
        srv = ReviewServer(log, port=port, export=export)
    except OSError as e:
        raise InputError(f"cannot listen on 127.0.0.1:{port} ({e.strerror}); pick another --port") from None
    c = log.counts()
    console.print(f"reviewing {plural(len(log.records), 'record')} ({c['pending']} pending) at [bold]{srv.url}[/]; decisions -> {log.path}; Ctrl-C to stop")
    if open_browser:
        import webbrowser

        webbrowser.open(srv.url)
    import signal

    def _stop(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)  # `kill` stops it as cleanly as Ctrl-C
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        srv.stop()
    c = log.counts()
    console.print(f"accepted {c['accept']}, edited {c['edit']}, rejected {c['reject']}, pending {c['pending']} ({log.path})")
    if export is not None:
        console.print(f"exported {plural(log.export(export), 'record')} -> {export}")


def _edit(rec: dict) -> dict | None:
    """Field-by-field edit from stdin; Enter keeps a field, '-' deletes a QA pair."""
    new = dict(rec)
    d = _ask("description (Enter keeps it): ")
    if d is None:
        return None
    if d.strip():
        new["description"] = d.strip()
    qa = []
    for k, pair in enumerate(rec.get("QA", []), 1):
        q = _ask(f"Q{k} (Enter keeps, '-' deletes the pair): ")
        if q is None:
            return None
        if q.strip() == "-":
            continue
        a = _ask(f"A{k} (Enter keeps): ")
        if a is None:
            return None
        qa.append({"q": q.strip() or pair["q"], "a": a.strip() or pair["a"]})
    while True:
        q = _ask("new question (Enter to finish): ")
        if q is None or not q.strip():
            break
        a = _ask("its answer: ")
        if a is None or not a.strip():
            break
        qa.append({"q": q.strip(), "a": a.strip()})
    new["QA"] = qa
    return new

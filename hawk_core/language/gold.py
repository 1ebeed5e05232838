"""Scoring the motion-language extractor (:mod:`hawk_core.language.phrases`) against a
hand-labelled gold set (``hawk parse --gold``), beside the authors' release's rule."""

from __future__ import annotations

import re

from .phrases import load_parser, phrases_from_doc


# ---- the authors' release, for comparison -------------------------------------------------


def release_triples(doc) -> list[tuple[str | None, str, str | None]]:
    """(subject, verb lemma, object) as the authors' release extracts them: for every VERB,
    its nsubj/nsubjpass children and its dobj/pobj/obj children (head words only)."""
    out = []
    for tok in doc:
        if tok.pos_ != "VERB":
            continue
        subs = [c.text for c in tok.children if c.dep_ in ("nsubj", "nsubjpass")] or [None]
        objs = [c.text for c in tok.children if c.dep_ in ("dobj", "pobj", "obj")] or [None]
        out.extend((s, tok.lemma_.lower(), o) for s in subs for o in objs)
    return out


# ---- evaluation against a hand-labelled gold set -----------------------------------------


def load_gold(path) -> list[dict]:
    """A gold set: JSONL of {"id", "text", "predicates": [{"verb" (lemma, particle allowed),
    "subjects", "objects", "indirect_subjects", "indirect_objects"}]} (entity lists of short
    phrases; indirect objects with their preposition)."""
    from ..errors import DataError
    from ..io import read_json_or_jsonl

    records = read_json_or_jsonl(path)
    for k, r in enumerate(records):
        if not isinstance(r.get("text"), str) or not isinstance(r.get("predicates"), list):
            raise DataError(f"{path}: record {k + 1}: needs 'text' (string) and 'predicates' (list)")
        for p in r["predicates"]:
            if not isinstance(p, dict) or not isinstance(p.get("verb"), str):
                raise DataError(f"{path}: record {k + 1}: every predicate needs a 'verb'")
    return records


_HEAD_SPLIT = re.compile(r"[\s\-]+")


def entity_head(entity: str | None) -> str | None:
    """The word an entity is scored by: its last word, lower-cased ("black SUV" -> "suv",
    "close-up" -> "up"); prepositions of indirect objects are dropped by taking the last word."""
    if not entity:
        return None
    words = [w for w in _HEAD_SPLIT.split(entity.lower().strip(" .,;:!?'\"")) if w]
    return words[-1] if words else None


def _items(verb: str, subjects, objects, isubj, iobj) -> tuple[list, list]:
    v = verb.lower().split()[0] if verb.strip() else verb
    triples = [(entity_head(s), v, entity_head(o)) for s in (subjects or [None]) for o in (objects or [None])]
    indirect = [("indirect_subject", v, entity_head(e)) for e in isubj] + [("indirect_object", v, entity_head(e)) for e in iobj]
    return triples, indirect


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float | int]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "predicted": n_pred, "gold": n_gold}


def score_gold(gold: list[dict], nlp=None) -> dict[str, dict]:
    """Precision / recall / F1 of (subject, verb, object) triples and of indirect roles
    (verb, role, entity) for hawk's extractor and for the release's rule, on one gold set.

    Entities are compared by their head word (:func:`entity_head`), verbs by their lemma
    without particle; every (subject, object) combination of a predicate is one triple, a
    missing role is None. Matching is per sentence, as multisets.
    """
    from collections import Counter

    nlp = nlp if nlp is not None else load_parser()
    texts = [g["text"] for g in gold]
    docs = list(nlp.pipe(texts))
    totals: dict[str, dict[str, list[int]]] = {
        sys: {k: [0, 0, 0] for k in ("triples", "indirect", "indirect_subject", "indirect_object")} for sys in ("hawk", "release")
    }
    errors: list[dict] = []
    for g, doc in zip(gold, docs):
        gt, gi = [], []
        for p in g["predicates"]:
            t, i = _items(p["verb"], p.get("subjects"), p.get("objects"), p.get("indirect_subjects", []), p.get("indirect_objects", []))
            gt += t
            gi += i
        ht, hi = [], []
        for ph in phrases_from_doc(doc):
            t, i = _items(ph.lemma, ph.subjects, ph.objects, ph.indirect_subjects, ph.indirect_objects)
            ht += t
            hi += i
        rt = [(entity_head(s), v, entity_head(o)) for s, v, o in release_triples(doc)]
        for sys, pt, pi in (("hawk", ht, hi), ("release", rt, [])):
            _add(totals[sys]["triples"], pt, gt)
            _add(totals[sys]["indirect"], pi, gi)
            for role in ("indirect_subject", "indirect_object"):
                _add(totals[sys][role], [x for x in pi if x[0] == role], [x for x in gi if x[0] == role])
        missing = list((Counter(gt) - Counter(ht)).elements())
        extra = list((Counter(ht) - Counter(gt)).elements())
        if missing or extra:
            errors.append({"id": g.get("id"), "text": g["text"], "missing": missing, "extra": extra})
    result = {sys: {k: _prf(*v) for k, v in d.items()} for sys, d in totals.items()}
    result["sentences"] = len(gold)  # type: ignore[assignment]
    result["triple_errors"] = errors  # type: ignore[assignment]
    return result


def _add(acc: list[int], pred: list, gold: list) -> None:
    from collections import Counter

    acc[0] += sum((Counter(pred) & Counter(gold)).values())
    acc[1] += len(pred)
    acc[2] += len(gold)

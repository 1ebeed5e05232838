"""Scoring predictions the way the paper does (section 5, appendix E): BLEU-1..4 (NLTK),
the GPT-guided Reasonability / Detail / Consistency judge, and an offline semantic
similarity with the embedded MiniLM sentence encoder.

Heavy dependencies (nltk, torch/transformers, openai) are imported where used.
"""

from .bleu import BleuConfig, bleu_scores, corpus_bleu, sentence_bleu, tokenize
from .judge import DIMENSIONS, Judge, JudgeConfig, JudgeOutcome, JudgeTemplates, JudgeUsage, ScoreParseError, parse_score
from .records import TASKS, LoadedPredictions, ReferenceIndex, ScoreItem, load_predictions
from .report import METRICS, item_rows, summarize, task_summary

__all__ = [
    "BleuConfig", "DIMENSIONS", "Judge", "JudgeConfig", "JudgeOutcome", "JudgeTemplates", "JudgeUsage",
    "LoadedPredictions", "METRICS", "ReferenceIndex", "ScoreItem", "ScoreParseError", "TASKS",
    "bleu_scores", "corpus_bleu", "item_rows", "load_predictions", "parse_score", "sentence_bleu",
    "summarize", "task_summary", "tokenize",
]

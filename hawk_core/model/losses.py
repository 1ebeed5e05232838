"""The three HAWK losses (paper section 4, Fig. 4), as pure functions.

* :func:`lm_loss` - L_VL: next-token cross-entropy on the answer tokens only.
* :func:`mv_loss` - L_MV (Eq. 5): 1 - cosine similarity between the appearance and motion
  features in the tight space.
* :func:`ml_loss` - L_ML (Eq. 8): cross-entropy of the motion-phrase text given the motion
  tokens alone (the same masked LM loss on another sequence).
* :func:`total_loss` - L = t0*L_VL + t1*L_MV + t2*L_ML.
* :func:`words_loss` - hawk's alignment stage (not in the paper): the visual tokens predict
  the bag of words of the video's description through the LLM's frozen word embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError

IGNORE_INDEX = -100


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Masked causal-LM loss.

    logits: (B, L, V) - position i predicts token i+1. labels: (B, L) token ids, IGNORE_INDEX
    (-100) where no loss is taken (prompt, visual tokens, padding). Returns the mean
    cross-entropy over all labelled tokens of the batch (a 0-d tensor; 0 when none is
    labelled, still attached to the graph).
    """
    if logits.shape[:2] != labels.shape:
        raise InputError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree on (B, L)")
    shift_logits = logits[:, :-1, :].float()  # (B, L-1, V)
    shift_labels = labels[:, 1:]  # (B, L-1)
    if not bool((shift_labels != IGNORE_INDEX).any()):
        return shift_logits.sum() * 0.0
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=IGNORE_INDEX)


def mv_loss(tight_v: torch.Tensor, tight_m: torch.Tensor, mode: str = "per_sample", eps: float = 1e-8) -> torch.Tensor:
    """Video-motion consistency in the tight space.

    tight_v, tight_m: (B, Q, K) appearance and motion features (Q tokens, K = tight dim).

    * ``per_sample`` (hawk's default): each video's Q x K features are flattened and compared
      with its own motion features: mean over b of 1 - cos(v_b, m_b). Videos in a batch do
      not mix, so the loss does not depend on the batch composition.
    * ``flattened`` (the authors' release): 1 - cos(v, m) of the whole batch flattened into
      one vector each.
    """
    if tight_v.shape != tight_m.shape:
        raise InputError(f"tight features disagree: appearance {tuple(tight_v.shape)}, motion {tuple(tight_m.shape)}")
    v, m = tight_v.float(), tight_m.float()
    if mode == "per_sample":
        return (1.0 - F.cosine_similarity(v.flatten(1), m.flatten(1), dim=1, eps=eps)).mean()
    if mode == "flattened":
        return 1.0 - F.cosine_similarity(v.flatten(), m.flatten(), dim=0, eps=eps)
    raise ConfigError(f"unknown mv_loss mode {mode!r}; choose per_sample or flattened")


def ml_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Motion-language matching: the masked LM loss of the motion-phrase text Y_m.

    logits: (B, L, V) of the LLM over [motion tokens, Y_m tokens]; labels: (B, L) with the
    Y_m tokens labelled and everything else IGNORE_INDEX (samples without motion phrases
    are all IGNORE_INDEX). Mean over labelled tokens.
    """
    return lm_loss(logits, labels)


def total_loss(l_vl: torch.Tensor, l_mv: torch.Tensor, l_ml: torch.Tensor, t0: float = 1.0, t1: float = 0.1, t2: float = 0.1) -> torch.Tensor:
    """L = t0*L_VL + t1*L_MV + t2*L_ML (paper appendix C: 1, 0.1, 0.1)."""
    return t0 * l_vl + t1 * l_mv + t2 * l_ml


#: Inverse temperature of :func:`word_logits` (cosine similarities in [-1, 1] -> logits in [-20, 20]).
WORD_LOGIT_SCALE = 20.0


def word_logits(tokens: torch.Tensor, word_embeddings: torch.Tensor, scale: float = WORD_LOGIT_SCALE) -> torch.Tensor:
    """How strongly a video's visual tokens say each word: (B, Q, D) tokens in the LLM's input
    space and (K, D) word embeddings -> (B, K) logits. Each token is compared with each word by
    cosine similarity (times ``scale``) and the Q tokens are pooled by a soft maximum
    (logsumexp - log Q), so one token may carry a word without all of them having to."""
    if tokens.dim() != 3 or word_embeddings.dim() != 2 or tokens.size(-1) != word_embeddings.size(-1):
        raise InputError(f"tokens {tuple(tokens.shape)} and word embeddings {tuple(word_embeddings.shape)} do not fit")
    t = F.normalize(tokens.float(), dim=-1)
    w = F.normalize(word_embeddings.float(), dim=-1)
    sims = scale * torch.einsum("bqd,kd->bqk", t, w)  # (B, Q, K)
    return torch.logsumexp(sims, dim=1) - torch.log(torch.tensor(float(tokens.size(1))))


def words_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Bag-of-words cross-entropy (Joulin et al., 2016): (B, K) word logits against (B, K)
    target distributions (each row sums to 1: the description's words weighted by their
    inverse document frequency). Rows without any target word are left out; 0 (attached to
    the graph) when no row has one."""
    if logits.shape != targets.shape:
        raise InputError(f"word logits {tuple(logits.shape)} and targets {tuple(targets.shape)} disagree")
    has = targets.sum(-1) > 0
    if not bool(has.any()):
        return logits.sum() * 0.0
    logp = F.log_softmax(logits[has].float(), dim=-1)
    return -(targets[has].float() * logp).sum(-1).mean()


def tags_loss(logits: torch.Tensor, targets: torch.Tensor, log_odds: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Multi-label word tagging: each ``active`` word (K,) bool is a yes/no of its own. A row's
    yes are the words its target (B, K) gives mass; the logit of word k is ``logits[:, k] +
    log_odds[k]`` (its prior log-odds in the training texts, so an untrained model starts at
    the prior), scored by binary cross-entropy, summed over the active words and divided by the
    row's number of yes (one unit per described word, as the bag's one unit per text spread
    over them). Rows without any active target word are left out; 0 (attached to the graph)
    when no row has one."""
    if logits.shape != targets.shape or log_odds.shape != active.shape or log_odds.size(0) != logits.size(-1):
        raise InputError(f"word logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and priors {tuple(log_odds.shape)} disagree")
    yes = (targets > 0) & active
    has = yes.any(-1)
    if not bool(has.any()):
        return logits.sum() * 0.0
    x = logits[has][:, active].float() + log_odds[active].float()
    y = yes[has][:, active].float()
    per_row = F.binary_cross_entropy_with_logits(x, y, reduction="none").sum(-1) / y.sum(-1)
    return per_row.mean()


def clusters_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Text-cluster classification: (B, C) cluster logits against (B,) long cluster labels
    (-1: the text has none); the cross-entropy over the labelled rows, 0 (attached to the
    graph) when no row has a label."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise InputError(f"cluster logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree")
    has = labels >= 0
    if not bool(has.any()):
        return logits.sum() * 0.0
    if int(labels.max()) >= logits.size(1):
        raise InputError(f"cluster label {int(labels.max())} is beyond the head's {logits.size(1)} clusters")
    return F.cross_entropy(logits[has].float(), labels[has])


def contrastive_loss(tokens: torch.Tensor, word_embeddings: torch.Tensor, targets: torch.Tensor,
                     scale: float = WORD_LOGIT_SCALE) -> torch.Tensor:
    """Video-text contrast within the batch (BLIP-2's image-text contrastive loss, with the
    LLM's frozen word embeddings as the text side): each text is the unit vector of its
    words' embeddings (each normalised) weighted by its target (B, K), the bag's IDF weights;
    a video's similarity to a text is :func:`word_logits` of its tokens (B, Q, D) against that
    vector (cosine x ``scale``, soft maximum over the tokens); the loss is the symmetric
    cross-entropy of the (B, B) similarities against the diagonal (each video with its own
    text, the others in the batch the negatives). Videos without target words are left out;
    0 (attached to the graph) with fewer than two left."""
    if targets.dim() != 2 or targets.size(0) != tokens.size(0) or targets.size(1) != word_embeddings.size(0):
        raise InputError(f"tokens {tuple(tokens.shape)}, word embeddings {tuple(word_embeddings.shape)} and targets {tuple(targets.shape)} disagree")
    has = targets.sum(-1) > 0
    if int(has.sum()) < 2:
        return tokens.sum() * 0.0
    texts = F.normalize(targets[has].float() @ F.normalize(word_embeddings.float(), dim=-1), dim=-1)  # (B', D)
    sims = word_logits(tokens[has], texts, scale)  # (B' videos, B' texts)
    labels = torch.arange(sims.size(0), device=sims.device)
    return 0.5 * (F.cross_entropy(sims, labels) + F.cross_entropy(sims.t(), labels))

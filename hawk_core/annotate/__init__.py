"""Dataset annotation (`hawk annotate`): the paper's data engine, section 3 and Fig. 2.

* :mod:`.clips`: key clips from one streaming pass (fixed windows or motion-energy cuts);
* :mod:`.captioners`: dense clip captions - offline perception, a vision LLM, or files;
* :mod:`.llm`: OpenAI-compatible or embedded chat models, retries, token accounting;
* :mod:`.prompts`: the prompt files in ``prompts/annotate/`` and the paper's questions;
* :mod:`.pipeline`: the resumable per-video pipeline and the dataset export.
"""

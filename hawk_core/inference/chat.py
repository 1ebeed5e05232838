"""A multi-turn conversation about one prepared video (`hawk chat`)."""

from __future__ import annotations

from .predictor import Answer, GenerationOptions, PreparedVideo, Predictor


class ChatSession:
    """A multi-turn conversation about one video; earlier turns go back into the prompt."""

    def __init__(self, predictor: Predictor, video: PreparedVideo, options: GenerationOptions) -> None:
        self.predictor = predictor
        self.video = video
        self.options = options
        self.history: list[tuple[str, str]] = []

    def ask(self, question: str) -> Answer:
        ans = self.predictor.ask(self.video, question, self.options, history=list(self.history))
        self.history.append((ans.question, ans.text))
        return ans

    def reset(self) -> None:
        self.history.clear()

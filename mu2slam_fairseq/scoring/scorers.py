"""fairseq scorers for text understanding: ``fairseq-generate --scoring mu2slam_accuracy``
(classification) and ``--scoring mu2slam_qa`` (extractive QA: F1 and exact match against
the one reference of each ``T-`` line). Both compare detokenized strings."""

from dataclasses import dataclass

from fairseq.dataclass import FairseqDataclass
from fairseq.scoring import BaseScorer, register_scorer

from .metrics import accuracy, answers_list, qa_scores


@dataclass
class Mu2slamAccuracyConfig(FairseqDataclass):
    pass


@register_scorer("mu2slam_accuracy", dataclass=Mu2slamAccuracyConfig)
class AccuracyScorer(BaseScorer):
    def score(self) -> float:
        return accuracy(self.pred, self.ref)["accuracy"]

    def result_string(self) -> str:
        r = accuracy(self.pred, self.ref)
        return f"accuracy: {r['accuracy']:.2f} ({r['correct']}/{r['n']})"


@dataclass
class Mu2slamQaConfig(FairseqDataclass):
    pass


@register_scorer("mu2slam_qa", dataclass=Mu2slamQaConfig)
class QaScorer(BaseScorer):
    def _scores(self):
        return qa_scores(self.pred, [answers_list([r]) for r in self.ref])

    def score(self) -> float:
        return self._scores()["f1"]

    def result_string(self) -> str:
        r = self._scores()
        return f"F1: {r['f1']:.2f} EM: {r['exact_match']:.2f} (n={r['n']})"

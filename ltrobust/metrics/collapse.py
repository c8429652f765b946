"""Whether a classifier's clean predictions are degenerate: one class predicted for most samples,
or balanced recall at chance level. The audit's verdict (``degenerate``) and the training
monitor's warning use the same rule. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: one predicted class's share of the samples above the largest true class's share
ONE_CLASS_EXCESS = 0.5
#: balanced clean recall at most this far above chance (1 / C) is chance level
CHANCE_MARGIN = 0.05


@dataclass(frozen=True)
class Collapse:
    """What a confusion matrix says about collapse (shares are fractions of the samples)."""

    top_share: float  #: the most predicted class's share of the predictions
    excess: float  #: ``top_share`` minus the largest true class's share
    balanced: float | None  #: mean recall of the classes with samples
    chance: float  #: 1 / C

    @property
    def one_class(self) -> bool:
        return self.excess > ONE_CLASS_EXCESS

    @property
    def at_chance(self) -> bool:
        return self.balanced is not None and self.balanced < self.chance + CHANCE_MARGIN

    @property
    def collapsed(self) -> bool:
        return self.one_class or self.at_chance


def collapse_of(confusion: Sequence[Sequence[int]]) -> Collapse | None:
    """The collapse statistics of a C x C (true, predicted) confusion matrix; None with no
    samples or fewer than two classes."""
    n, c = sum(map(sum, confusion)), len(confusion)
    if not n or c < 2:
        return None
    predicted = max(sum(row[j] for row in confusion) for j in range(c)) / n
    recalls = [row[i] / sum(row) for i, row in enumerate(confusion) if sum(row)]
    balanced = sum(recalls) / len(recalls) if recalls else None
    return Collapse(predicted, predicted - max(map(sum, confusion)) / n, balanced, 1 / c)

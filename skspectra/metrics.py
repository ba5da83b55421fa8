"""Scoring by macro-F1, the contest's metric, for GridSearchCV and cross_validate."""

from __future__ import annotations

from sklearn.metrics import f1_score, make_scorer

__all__ = ["macro_f1_scorer"]

#: Scorer for ``GridSearchCV(scoring=macro_f1_scorer)`` and ``cross_validate``: the unweighted
#: mean of the per-class F1 scores, so that a rare class counts as much as a common one. A class
#: never predicted scores 0 rather than warning. Works for any labels: ``pos_label=None`` keeps
#: scikit-learn from checking its default ``pos_label=1`` against binary string labels, which
#: a macro average never uses.
macro_f1_scorer = make_scorer(f1_score, average="macro", zero_division=0, pos_label=None)

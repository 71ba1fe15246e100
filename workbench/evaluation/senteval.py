"""SentEval-style transfer evaluation: logistic regression on frozen sentence embeddings.

Seven English tasks (Conneau & Kiela 2018), read with
:func:`workbench.data.readers.read_senteval`:

===========  ==========================================================
MR CR SUBJ   10-fold cross-validation over all rows; C chosen inside
MPQA         each training fold by an inner cross-validation
SST2         trained on train, C chosen on dev, scored on test
TREC         C chosen by cross-validation on train, scored on test
MRPC         as TREC, on pair features ``[u * v, |u - v|]``; accuracy and F1
===========  ==========================================================

The classifier is scikit-learn's logistic regression on standardised
features with C from a small grid, as SentEval's "fast" setting without a
hidden layer (``nhid=0``).  Accuracies are percentages.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..data.readers import SENTEVAL_TASKS, SentEvalTask, read_senteval, senteval_task_name
from ..hooks import Progress
from ..typing import Encoder
from .base import Evaluator

logger = logging.getLogger(__name__)

#: SentEval's grid for scikit-learn's logistic regression: C = 2^-2 ... 2^3.
DEFAULT_C_GRID = tuple(2.0**t for t in range(-2, 4))


@dataclass
class TaskResult:
    """What one task's evaluation did and found; kept in :attr:`SentEvalEvaluator.details`.

    Attributes
    ----------
    task
        Task name.
    protocol
        ``"kfold"``, ``"train/dev/test"`` or ``"train/test"``.
    sizes
        Rows used per split (``{"all": n}`` for cross-validated tasks).
    folds
        Outer cross-validation folds (0 for fixed splits).
    accuracy
        Test accuracy in percent (mean over folds for ``kfold``).
    dev_accuracy
        Accuracy, in percent, of the chosen C in model selection (inner CV or dev set).
    chosen_c
        C chosen per outer fold, or the single C for fixed splits.
    f1
        F1 of the positive class in percent (MRPC only).
    """

    task: str
    protocol: str
    sizes: dict[str, int]
    folds: int
    accuracy: float
    dev_accuracy: float
    chosen_c: list[float] = field(default_factory=list)
    f1: float | None = None


def stratified_subsample(labels: Sequence[Any], n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` rows whose class shares follow those of ``labels`` (sorted; all rows when n >= len).

    The rows are shuffled, grouped by class, and every (len/n)-th taken, so
    each class gets its share up to one row.

    Example
    -------
    >>> idx = stratified_subsample([0] * 80 + [1] * 20, 10, seed=0)
    >>> len(idx), int((idx >= 80).sum())
    (10, 2)
    """
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(labels))
    grouped = shuffled[np.argsort(labels[shuffled], kind="stable")]
    picks = (np.arange(n) * len(labels) / n).astype(int)
    return np.sort(grouped[picks])


def _classifier(c: float, seed: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=seed))


class SentEvalEvaluator(Evaluator):
    """Transfer accuracy of frozen embeddings on SentEval's classification tasks.

    Keys: ``<name>_<TASK>_accuracy`` per task (percent), ``<name>_MRPC_f1``
    when MRPC runs, and ``<name>_average_accuracy``, the primary metric: the
    mean over the tasks run.  :attr:`details` holds a :class:`TaskResult`
    per task after each call.

    Parameters
    ----------
    tasks
        Task names (case-insensitive) out of MR, CR, SUBJ, MPQA, SST2, TREC,
        MRPC; default all seven.
    folder
        Folder holding ``<TASK>/`` subfolders; default the registry's
        ``senteval`` data set (the mirror, or a download).
    max_per_task
        For quick runs: keep at most this many rows per task (per split for
        SST2, TREC and MRPC), a stratified sample drawn with ``seed``.
    inner_folds
        Folds of the cross-validation that chooses C (inside each outer fold
        of MR, CR, SUBJ, MPQA; on the training set of TREC and MRPC).
    c_grid
        Values of C tried.
    seed
        Seed of the subsample, the fold splits and the classifier.
    n_jobs
        Parallel jobs of scikit-learn's grid search.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`; the callbacks get
        ``progress_*`` events counted in tasks.

    Example
    -------
    >>> from workbench import SentenceEncoder
    >>> model = SentenceEncoder("all-MiniLM-L6-v2")                                  # doctest: +SKIP
    >>> senteval = SentEvalEvaluator(tasks=["MR", "TREC"], max_per_task=1000)        # doctest: +SKIP
    >>> senteval(model)                                                              # doctest: +SKIP
    {'senteval_MR_accuracy': 73.4, 'senteval_TREC_accuracy': 82.6, 'senteval_average_accuracy': 78.0}
    """

    def __init__(
        self,
        tasks: Sequence[str] | None = None,
        folder: str | os.PathLike | None = None,
        max_per_task: int | None = None,
        inner_folds: int = 5,
        c_grid: Sequence[float] = DEFAULT_C_GRID,
        seed: int = 1111,
        n_jobs: int | None = None,
        name: str = "senteval",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        super().__init__(name, "average_accuracy", batch_size, callbacks)
        if isinstance(tasks, str):
            raise TypeError(f"tasks must be a list of task names, got the string {tasks!r}; use [{tasks!r}]")
        names = [senteval_task_name(t) for t in (tasks or SENTEVAL_TASKS)]
        if not names:
            raise ValueError(f"no tasks given; choose from {list(SENTEVAL_TASKS)}")
        if inner_folds < 2:
            raise ValueError(f"inner_folds must be at least 2, got {inner_folds}")
        if max_per_task is not None and max_per_task < 2 * inner_folds:
            raise ValueError(f"max_per_task must be at least 2 * inner_folds = {2 * inner_folds}, got {max_per_task}")
        if not c_grid or any(c <= 0 for c in c_grid):
            raise ValueError(f"c_grid must hold positive values of C, got {list(c_grid)}")
        if folder is None:
            from ..data.registry import dataset_path

            folder = dataset_path("senteval")
        self.folder = folder
        self.max_per_task = max_per_task
        self.inner_folds = inner_folds
        self.c_grid = [float(c) for c in c_grid]
        self.seed = seed
        self.n_jobs = n_jobs
        self.tasks = {task: self._subsample(read_senteval(folder, task)) for task in dict.fromkeys(names)}
        self.details: dict[str, TaskResult] = {}

    def _subsample(self, task: SentEvalTask) -> SentEvalTask:
        if self.max_per_task is None:
            return task
        for split, examples in task.splits.items():
            keep = stratified_subsample([e.label for e in examples], self.max_per_task, self.seed)
            task.splits[split] = [examples[i] for i in keep]
        return task

    def _features(self, model: Encoder, examples: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (or pair features) and labels of ``examples``."""
        labels = np.array([e.label for e in examples])
        columns = [list(column) for column in zip(*(e.texts for e in examples))]
        embeddings = self.encode_columns(model, *columns)
        if len(embeddings) == 1:
            return embeddings[0], labels
        u, v = embeddings
        return np.hstack([u * v, np.abs(u - v)]), labels

    def _grid_search(self, x: np.ndarray, y: np.ndarray) -> GridSearchCV:
        """Fit the C grid with an inner cross-validation and refit the best C on all of ``x``."""
        inner = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.seed)
        search = GridSearchCV(
            _classifier(1.0, self.seed), {"logisticregression__C": self.c_grid}, cv=inner, n_jobs=self.n_jobs
        )
        return search.fit(x, y)

    def _kfold(self, task: SentEvalTask, x: np.ndarray, y: np.ndarray) -> TaskResult:
        outer = StratifiedKFold(task.kfold, shuffle=True, random_state=self.seed)
        accuracies, dev_accuracies, chosen = [], [], []
        for train, test in outer.split(x, y):
            search = self._grid_search(x[train], y[train])
            accuracies.append(search.score(x[test], y[test]))
            dev_accuracies.append(search.best_score_)
            chosen.append(float(search.best_params_["logisticregression__C"]))
        return TaskResult(
            task.name,
            task.protocol,
            {"all": len(y)},
            task.kfold,
            100 * float(np.mean(accuracies)),
            100 * float(np.mean(dev_accuracies)),
            chosen,
        )

    def _dev_selected(self, task: SentEvalTask, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> TaskResult:
        (x_train, y_train), (x_dev, y_dev), (x_test, y_test) = data["train"], data["dev"], data["test"]
        fitted = [_classifier(c, self.seed).fit(x_train, y_train) for c in self.c_grid]
        dev_scores = [clf.score(x_dev, y_dev) for clf in fitted]
        best = int(np.argmax(dev_scores))
        return TaskResult(
            task.name,
            task.protocol,
            {s: len(y) for s, (_, y) in data.items()},
            0,
            100 * float(fitted[best].score(x_test, y_test)),
            100 * float(dev_scores[best]),
            [self.c_grid[best]],
        )

    def _cv_selected(self, task: SentEvalTask, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> TaskResult:
        (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
        search = self._grid_search(x_train, y_train)
        predicted = search.predict(x_test)
        result = TaskResult(
            task.name,
            task.protocol,
            {s: len(y) for s, (_, y) in data.items()},
            0,
            100 * float((predicted == y_test).mean()),
            100 * float(search.best_score_),
            [float(search.best_params_["logisticregression__C"])],
        )
        if "f1" in task.metrics:
            result.f1 = 100 * float(f1_score(y_test, predicted))
        return result

    def evaluate_task(self, model: Encoder, task: SentEvalTask) -> TaskResult:
        """Encode one task's sentences with ``model`` and run its protocol."""
        data = {split: self._features(model, examples) for split, examples in task.splits.items()}
        # Many small fits: multi-threaded BLAS costs more in start-up than it gains (10x slower on 2 cores).
        with threadpool_limits(limits=1):
            if task.protocol == "kfold":
                return self._kfold(task, *data["all"])
            if "dev" in data:
                return self._dev_selected(task, data)
            return self._cv_selected(task, data)

    def compute(self, model: Encoder) -> dict[str, float]:
        self.details = {}
        metrics: dict[str, float] = {}
        with Progress(self.hooks(), f"{self.name}: tasks", total=len(self.tasks), unit="tasks") as progress:
            for name, task in self.tasks.items():
                result = self.evaluate_task(model, task)
                logger.info(
                    "SentEval %s: accuracy %.2f (model selection %.2f, C %s)",
                    name,
                    result.accuracy,
                    result.dev_accuracy,
                    result.chosen_c,
                )
                self.details[name] = result
                metrics[f"{name}_accuracy"] = result.accuracy
                if result.f1 is not None:
                    metrics[f"{name}_f1"] = result.f1
                progress.update(1)
        metrics["average_accuracy"] = float(np.mean([r.accuracy for r in self.details.values()]))
        return metrics

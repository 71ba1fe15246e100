"""MSELoss: distillation, the student's embeddings regressed onto a teacher's."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Loss


class MSELoss(Loss):
    """Mean squared error between each column's embeddings and the teacher embeddings.

    Used for knowledge distillation and for multilingual training: the
    labels are the teacher's embeddings of the source sentence, and every
    column (the source and its translations) is pulled onto them.  The
    loss is the mean over columns.  With :class:`MatryoshkaLoss` the
    teacher embeddings are truncated like the student's.

    Inputs: 1 or more text columns and a float tensor ``(batch, dim)`` of
    teacher embeddings as labels, ``dim`` the model's embedding width.

    Example
    -------
    >>> loss = MSELoss(student)                                               # doctest: +SKIP
    >>> teacher_emb = teacher.encode(["A man eats."], convert_to_tensor=True) # doctest: +SKIP
    >>> features = [student.tokenize(["A man eats."]), student.tokenize(["Un homme mange."])]  # doctest: +SKIP
    >>> loss(features, teacher_emb).backward()                                # doctest: +SKIP
    """

    columns = (1, None)
    label_kind = "float"
    label_ndim = 2
    expects = "1 or more text columns and float teacher embeddings of shape (batch, embedding dim) as labels"

    def check_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> None:
        super().check_embeddings(embeddings, labels)
        if labels.shape[1] != embeddings[0].shape[1]:
            self.fail(f"the labels are {labels.shape[1]} wide but the model's embeddings {embeddings[0].shape[1]}")

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        width = embeddings[0].shape[1]
        return torch.stack([F.mse_loss(e, labels[:, :width]) for e in embeddings]).mean()

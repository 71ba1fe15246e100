"""Similarity functions against plain numpy formulas, input handling and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from workbench.similarity import (
    PAIRWISE_SIMILARITY_FUNCTIONS,
    SIMILARITY_FUNCTIONS,
    as_matrix,
    cos_sim,
    euclidean_sim,
    get_similarity,
    pairwise_cos_sim,
    similarity_matrix,
    to_tensor,
)

RNG = np.random.default_rng(0)
A = RNG.normal(size=(5, 7))
B = RNG.normal(size=(4, 7))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# numpy formula of each function, on every (row of a, row of b) combination
NUMPY = {
    "cosine": lambda a, b: _unit(a) @ _unit(b).T,
    "dot": lambda a, b: a @ b.T,
    "euclidean": lambda a, b: -np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)),
    "manhattan": lambda a, b: -np.abs(a[:, None, :] - b[None, :, :]).sum(-1),
}


@pytest.mark.parametrize("name", list(NUMPY))
def test_matrix_functions_match_numpy(name):
    got = SIMILARITY_FUNCTIONS[name](A, B)
    assert isinstance(got, torch.Tensor) and got.shape == (5, 4)
    np.testing.assert_allclose(got.numpy(), NUMPY[name](A, B), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(NUMPY))
def test_pairwise_functions_are_the_matrix_diagonal(name):
    got = PAIRWISE_SIMILARITY_FUNCTIONS[name](A, A[::-1].copy())
    assert got.shape == (5,)
    np.testing.assert_allclose(got.numpy(), np.diag(NUMPY[name](A, A[::-1])), rtol=1e-10, atol=1e-12)


def test_inputs_can_be_lists_tensors_arrays_and_single_rows():
    expected = NUMPY["cosine"](A[:1], B)
    for a, b in [(A[0].tolist(), B.tolist()), (torch.from_numpy(A[0]), B), (A[:1], torch.from_numpy(B))]:
        np.testing.assert_allclose(cos_sim(a, b).double().numpy(), expected, rtol=1e-6)
    assert cos_sim([1.0, 0.0], [0.0, 1.0]).shape == (1, 1)


def test_to_tensor_types():
    assert to_tensor(np.arange(4)).dtype == torch.float32
    assert to_tensor([[1, 2], [3, 4]]).dtype == torch.get_default_dtype()
    assert to_tensor(A).dtype == torch.float64
    assert to_tensor([torch.ones(3), torch.zeros(3)]).shape == (2, 3)
    assert to_tensor([np.ones(3), np.zeros(3)]).shape == (2, 3)
    assert as_matrix([]).shape == (0, 0)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        as_matrix(np.zeros((2, 2, 2)))


def test_read_only_memmap_is_copied_without_warning(tmp_path):
    path = tmp_path / "emb.npy"
    np.save(path, A)
    mm = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(to_tensor(mm).numpy(), A)


def test_mixed_dtypes_are_promoted():
    got = cos_sim(A.astype(np.float32), B)
    assert got.dtype == torch.float64


def test_zero_vector_scores_zero_not_nan():
    assert cos_sim([0.0, 0.0], [1.0, 0.0]).item() == 0.0


def test_gradients_flow_through():
    a = torch.tensor(A, requires_grad=True)
    pairwise_cos_sim(a, A[::-1].copy()).sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


def test_euclidean_is_exact_for_near_identical_rows():
    # 30 rows: enough for torch.cdist's default to take its imprecise matmul route
    x = np.full((30, 2), 1000.0, dtype=np.float32)
    y = x + np.float32(1e-3)
    exact = -np.sqrt(2) * float(y[0, 0] - x[0, 0])
    np.testing.assert_allclose(np.diag(euclidean_sim(x, y).numpy()), exact, rtol=1e-5)


def test_similarity_matrix_is_symmetric_with_unit_diagonal():
    m = similarity_matrix(A)
    np.testing.assert_allclose(m.numpy(), m.numpy().T)
    np.testing.assert_allclose(np.diag(m.numpy()), 1.0)
    np.testing.assert_allclose(similarity_matrix(A, "dot").numpy(), A @ A.T)


def test_dimension_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(5, 7\).*\(2, 3\)"):
        cos_sim(A, np.ones((2, 3)))


def test_pairwise_needs_equal_rows():
    with pytest.raises(ValueError, match="as many rows"):
        pairwise_cos_sim(A, B)


def test_get_similarity_names_and_errors():
    assert get_similarity("euclidean") is euclidean_sim
    assert get_similarity("cosine", pairwise=True) is pairwise_cos_sim
    assert get_similarity(cos_sim) is cos_sim
    with pytest.raises(ValueError, match="cosine, dot, euclidean, manhattan"):
        get_similarity("jaccard")

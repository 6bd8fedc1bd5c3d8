"""StructuralLoss with node presence: the expected edit cost when predicted nodes may be absent."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from pyg_grapheme.loss import StructuralLoss


def chain(n: int) -> torch.Tensor:
    src = torch.arange(max(n - 1, 0))
    return torch.stack([src, src + 1])


def one_hot(classes: list[int], num_classes: int = 3, dtype=torch.float32) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(classes), num_classes).to(dtype)


TARGET = Data(type=torch.tensor([0, 1]), edge_index=chain(2))


def test_presence_one_is_no_presence_at_all():
    loss = StructuralLoss()
    pred = Data(type=one_hot([0, 1, 2]), edge_index=chain(3))
    present = Data(type=one_hot([0, 1, 2]), edge_index=chain(3), presence=torch.ones(3))
    for name, value in loss.terms(pred, TARGET).items():
        assert torch.equal(value, loss.terms(present, TARGET)[name]), name


def test_presence_zero_is_the_node_removed():
    loss = StructuralLoss(tie_break=0.0)
    absent = Data(type=one_hot([0, 1, 2]), edge_index=chain(3), presence=torch.tensor([1.0, 1, 0]))
    removed = Data(type=one_hot([0, 1]), edge_index=chain(2))
    assert float(loss(absent, TARGET)) == pytest.approx(float(loss(removed, TARGET)), abs=1e-6)
    assert float(loss(absent, TARGET)) < 1e-6
    # A surplus node that exists costs its deletion and its edge: 1 + 1, plus its degree
    # and clique shares.
    surplus = Data(type=one_hot([0, 1, 2]), edge_index=chain(3), presence=torch.ones(3))
    terms = loss.terms(surplus, TARGET)
    assert float(terms["node"]) == pytest.approx(1.0 + 0.1 * 0.5, abs=1e-3)
    assert float(terms["edge"]) == pytest.approx(1.0, abs=1e-3)


def test_the_gradient_drops_a_surplus_node_and_asks_for_a_missing_one():
    loss = StructuralLoss(tie_break=0.0)
    # Too many: the third node is surplus, its presence gradient is positive (drop it).
    presence = torch.tensor([1.0, 1.0, 0.5], requires_grad=True)
    loss(Data(type=one_hot([0, 1, 2]), edge_index=chain(3), presence=presence), TARGET).backward()
    assert float(presence.grad[2]) > 0.5
    # Too few: the target has a third node of class 2; a tentative predicted node of class 2
    # with low presence gets a negative gradient (raise it).
    target3 = Data(type=torch.tensor([0, 1, 2]), edge_index=chain(3))
    presence = torch.tensor([1.0, 1.0, 0.1], requires_grad=True)
    loss(Data(type=one_hot([0, 1, 2]), edge_index=chain(3), presence=presence), target3).backward()
    assert float(presence.grad[2]) < -0.5


def test_gradcheck_with_respect_to_presence_and_types(gradcheck):
    loss = StructuralLoss(
        grad="autodiff", epsilon=0.5, epsilon_start=1.0, outer_iter=3, inner_iter=3
    )
    types = torch.softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), 1)
    target = Data(type=torch.tensor([0, 1, 2]), edge_index=chain(3))

    def fn(presence: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        return loss(Data(type=probs, edge_index=chain(4), presence=presence), target)

    # Away from the kink of the clique term's max(count - 1, 1) at an integer total presence.
    presence = torch.tensor([0.9, 0.6, 0.35, 0.2])
    assert gradcheck(fn, (presence, types), atol=1e-5, rtol=1e-3)


def test_bad_presence_is_named():
    loss = StructuralLoss()
    with pytest.raises(ValueError, match=r"pred.presence must be a FloatTensor \[N\] = \[3\]"):
        loss(Data(type=one_hot([0, 1, 2]), edge_index=chain(3), presence=torch.ones(2)), TARGET)
    with pytest.raises(ValueError, match=r"pred.presence must lie in \[0, 1\]"):
        loss(Data(type=one_hot([0, 1, 2]), edge_index=chain(3), presence=torch.full((3,), 2.0)),
             TARGET)  # fmt: skip

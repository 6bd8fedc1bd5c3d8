"""Inputs shared by the tests of networks with an output decoder."""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
from torch_geometric.data import Batch

from pyg_grapheme.loss import StructuralLoss
from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.objective import TransformObjective, build_supervision
from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.models.text_transform import transform_text
from pyg_grapheme.text import graphs_from_texts


def inference_batch(
    net: GraphTransformNet, texts: list[str]
) -> tuple[Batch, ClassSpace, torch.Tensor]:
    """The batch of ``texts``, its class space and the class of each input grapheme."""
    data = graphs_from_texts(texts)
    data.num_graphs = len(texts)
    space = ClassSpace.build(net.output_vocab, data.clusters)
    return data, space, space.encode(g for c in data.clusters for g in c)


def teacher_forced_loss(
    net: GraphTransformNet, alignment: str = "lcs", device: str = "cpu"
) -> tuple[Callable[[GraphTransformNet], torch.Tensor], Batch]:
    """``(loss_fn, inputs)``: ``loss_fn(m)`` is the float64 teacher-forced loss of merging,
    relabelling, growing (``"mn" -> "mmnn"``) and emptying (``"pp" -> ""``) pairs under
    ``alignment``, for a gradcheck of ``net`` (whose ``output_vocab`` must hold ``"0"``), on
    ``inputs``; every tensor on ``device``. The decoder reads the target rows when ``net``
    has one."""
    objective = TransformObjective(
        StructuralLoss(grad="autodiff", outer_iter=2, inner_iter=3, epsilon=0.5, epsilon_start=1.0)
    )
    inputs = graphs_from_texts(["aab", "xyz", "q", "mn", "pp"])
    targets = graphs_from_texts(["ab", "x0", "q", "mmnn", ""])
    sup = build_supervision(inputs, targets, net.output_vocab, alignment)
    inputs.x, targets.x = inputs.x.double(), targets.x.double()
    emitted = None
    if net.decoder is not None:
        emitted = GraphTransformNet.class_features(sup.space).double()[sup.target_class]
        emitted = emitted.to(device)
    inputs, targets, sup = inputs.to(device), targets.to(device), sup.to(device)

    def loss_fn(m: GraphTransformNet) -> torch.Tensor:
        out = m(inputs, length=sup.length, emitted=emitted)
        return objective(out, m.type_probs(out, sup.member_class, sup.space), targets, sup)["loss"]

    return loss_fn, inputs


def end_at_the_median(
    net: GraphTransformNet, data: Batch, member_class: torch.Tensor, space: ClassSpace
) -> None:
    """Give ``net``'s end head a random direction and put its threshold at the median output
    node of ``data`` with nothing ended, so it ends some nodes and not others."""
    with torch.no_grad():
        net.end_head.weight.normal_(0.0, 3.0)
        net.end_head.bias.fill_(-100.0)
        out, _ = net.emit_classes(data, member_class, space)
        net.end_head.bias.fill_(-float((out.x @ net.end_head.weight.view(-1)).median()))


def train_teacher_forced(
    net: GraphTransformNet, train: list[tuple[str, str]], steps: int, alignment: str = "lcs"
) -> list[float]:
    """Adam (lr 3e-3) on the teacher-forced loss without the structural term, a seeded draw
    of 64 ``(input, target)`` pairs per step; the loss of every step."""
    objective = TransformObjective(structural_weight=0.0)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(steps):
        batch = random.Random(step).sample(train, 64)
        inputs = graphs_from_texts([source for source, _ in batch])
        targets = graphs_from_texts([target for _, target in batch])
        sup = build_supervision(inputs, targets, net.output_vocab, alignment)
        rows = GraphTransformNet.class_features(sup.space)[sup.target_class]
        out = net.train()(inputs, length=sup.length, emitted=rows)
        probs = net.type_probs(out, sup.member_class, sup.space)
        loss = objective(out, probs, targets, sup)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def exact_match_of(net: GraphTransformNet, pairs: list[tuple[str, str]]) -> float:
    """Exact match of ``net`` (in eval mode) on ``(input, target)`` pairs."""
    written = transform_text(net.eval(), [source for source, _ in pairs])
    return sum(w == target for w, (_, target) in zip(written, pairs)) / len(pairs)

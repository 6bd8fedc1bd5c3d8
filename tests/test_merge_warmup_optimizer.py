"""A merge warm-up under Adam: the merge parameters' own learning rate and clipping.

Adam divides every gradient by its own running size, so weighting the merge term by 0.01
moves the parameters that only it trains (the pool's threshold, the merge features'
heads) as fast as weighting it by 1. With a warm-up those parameters train in a group of
their own whose learning rate is the others' times the warm-up's factor, and each group's
gradient is clipped on its own.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lightning_modules.module import GraphTransformModule
from pyg_grapheme.models import GraphTransformNet, TransformObjective


def _module(merge_warmup: float, merge_weight: float = 1.0) -> GraphTransformModule:
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=8, num_layers=1, attention_layers=1, heads=2,
                            output_vocab=["a", "b"])  # fmt: skip
    objective = TransformObjective(merge_warmup=merge_warmup, merge_weight=merge_weight)
    return GraphTransformModule(net, objective, lr=0.01, lr_schedule="constant")


def _attach(module: GraphTransformModule, step: int, total: int) -> None:
    module._trainer = SimpleNamespace(
        estimated_stepping_batches=total, global_step=step, callbacks=[]
    )  # fmt: skip


def test_merge_parameters_are_the_heads_and_the_threshold():
    net = _module(0.0).net
    names = {id(p): n for n, p in net.named_parameters()}
    chosen = sorted(names[id(p)] for p in net.merge_parameters())
    assert chosen == [
        "context.bias", "context.weight", "parity_gain.bias", "parity_gain.weight",
        "pool.threshold_logit", "signature_gain.bias", "signature_gain.weight",
    ]  # fmt: skip


def test_without_a_warm_up_one_group_holds_every_parameter():
    module = _module(0.0)
    _attach(module, 0, 10)
    optimizer = module.configure_optimizers()
    assert len(optimizer.param_groups) == 1
    assert len(optimizer.param_groups[0]["params"]) == len(list(module.parameters()))
    # A warm-up of a term that is off changes nothing either.
    assert len(_module(0.5, merge_weight=0.0).configure_optimizers().param_groups) == 1


@pytest.mark.parametrize(("step", "factor"), [(0, 0.0), (1, 0.2), (4, 0.8), (5, 1.0), (9, 1.0)])
def test_the_merge_group_learns_at_the_warm_ups_factor(step, factor):
    """Warm-up over half of 10 steps: the merge group's rate is the others' times
    min(1, (step / 10) / 0.5), whatever the schedule set it to."""
    module = _module(0.5)
    _attach(module, step, 10)
    optimizer = module.configure_optimizers()
    main, merge = optimizer.param_groups
    assert merge["merge_decision"] and {id(p) for p in merge["params"]} == {
        id(p) for p in module.net.merge_parameters()
    }
    assert not {id(p) for p in main["params"]} & {id(p) for p in merge["params"]}
    main["lr"] = 0.004  # as a schedule would have set both
    merge["lr"] = 0.004
    module.on_before_optimizer_step(optimizer)
    assert main["lr"] == 0.004
    assert merge["lr"] == pytest.approx(0.004 * factor, abs=1e-15)


def test_each_group_is_clipped_on_its_own():
    """A merge gradient of norm 100 is clipped to 1 without shrinking the other group's
    gradient of norm 0.5 (clipped together, that one would be scaled by 1/100)."""
    module = _module(0.5)
    _attach(module, 0, 10)
    optimizer = module.configure_optimizers()
    main, merge = optimizer.param_groups
    for p in main["params"]:
        p.grad = torch.zeros_like(p)
    for p in merge["params"]:
        p.grad = torch.zeros_like(p)
    main["params"][0].grad.view(-1)[0] = 0.5
    merge["params"][0].grad.view(-1)[0] = 100.0
    module.configure_gradient_clipping(optimizer, 1.0, "norm")
    assert float(main["params"][0].grad.view(-1)[0]) == pytest.approx(0.5)
    assert float(merge["params"][0].grad.view(-1)[0]) == pytest.approx(1.0, rel=1e-5)

"""What a fit does to spend less CPU a step, and that the results are the same for it.

- The optimizer is torch's fused AdamW (one compiled update over every parameter), the
  same algorithm as the default per-tensor one.
- Inside a fit, torch's deterministic mode does not fill new memory with NaN: a fit never
  reads memory it did not write, so its weights are the same bit for bit.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.utils.deterministic
from fit_cases import fit

import lightning_modules.fit as fit_command
from lightning_modules.module import GraphTransformModule, _fusable
from pyg_grapheme.models import GraphTransformNet, TransformObjective

SMALL = [
    "--data.n_train", "48", "--data.n_val", "8", "--data.batch_size", "16",
    "--trainer.max_epochs", "1", "--model.net.init_args.hidden_channels", "16",
    "--model.net.init_args.dropout", "0.1",
]  # fmt: skip


def _module(dtype: torch.dtype = torch.float64) -> GraphTransformModule:
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=8, num_layers=1, attention_layers=1, heads=2,
                            output_vocab=["a", "b"])  # fmt: skip
    module = GraphTransformModule(
        net, TransformObjective(), lr=0.01, weight_decay=0.01, lr_schedule="constant"
    )
    return module.to(dtype)


def test_the_fit_optimizer_is_fused_adamw_and_steps_as_the_per_tensor_one():
    module = _module()
    fused = module.configure_optimizers()
    assert isinstance(fused, torch.optim.AdamW) and fused.defaults["fused"] is True
    params = list(module.parameters())
    start = [p.detach().clone() for p in params]
    generator = torch.Generator().manual_seed(1)
    grads = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    per_tensor = torch.optim.AdamW(params, lr=0.01, weight_decay=0.01, foreach=False)
    after = {}
    for name, optimizer in (("fused", fused), ("per_tensor", per_tensor)):
        with torch.no_grad():
            for p, s in zip(params, start):
                p.copy_(s)
        for _ in range(3):  # three steps: the moments and the bias correction take part
            for p, g in zip(params, grads):
                p.grad = g.clone()
            optimizer.step()
        after[name] = [p.detach().clone() for p in params]
    moved = max(float((a - s).abs().max()) for a, s in zip(after["fused"], start))
    assert moved > 0.01  # three steps of lr 0.01 moved the weights
    for a, b in zip(after["fused"], after["per_tensor"]):
        torch.testing.assert_close(a, b, rtol=0.0, atol=1e-12)


def test_parameters_fused_adamw_cannot_take_are_left_to_torch():
    assert _fusable([torch.nn.Parameter(torch.zeros(2))]) is True
    assert _fusable([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]) is True
    assert _fusable([]) is None
    assert _fusable([torch.zeros(2, device="meta")]) is None


def test_the_nan_fill_is_off_inside_a_fit_and_restored_after_it():
    before = torch.utils.deterministic.fill_uninitialized_memory
    with fit_command._no_nan_fill():
        assert torch.utils.deterministic.fill_uninitialized_memory is False
    assert torch.utils.deterministic.fill_uninitialized_memory is before
    with pytest.raises(RuntimeError, match="inside"):
        with fit_command._no_nan_fill():
            raise RuntimeError("inside")
    assert torch.utils.deterministic.fill_uninitialized_memory is before


@pytest.mark.slow
def test_a_fit_ends_with_the_same_weights_with_the_nan_fill(tmp_path, monkeypatch):
    """A read of memory never written would be NaN with the fill and other values without
    it; the weights after an epoch of three steps (dropout, the pool, the transducer) are
    equal."""
    weights = {}
    for name, guard in (("without", fit_command._no_nan_fill), ("with", contextlib.nullcontext)):
        monkeypatch.setattr(fit_command, "_no_nan_fill", guard)
        (tmp_path / name).mkdir()
        monkeypatch.setattr(torch.utils.deterministic, "fill_uninitialized_memory", True)
        fit(tmp_path / name, monkeypatch, *SMALL)
        weights[name] = torch.load(
            tmp_path / name / "outputs" / "checkpoints" / "last.ckpt", weights_only=True
        )["state_dict"]
    assert weights["with"].keys() == weights["without"].keys()
    assert all(torch.equal(weights["with"][k], weights["without"][k]) for k in weights["with"])

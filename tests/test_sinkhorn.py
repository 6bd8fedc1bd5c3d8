"""Batched log-domain Sinkhorn: POT agreement, padding, gradients, memory, errors."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from pyg_grapheme.loss import Sinkhorn, sinkhorn, sinkhorn2


def _padded_problem(B=6, n=7, m=9, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    cost = torch.rand(B, n, m, generator=g, dtype=dtype)
    rows = torch.randint(1, n + 1, (B,), generator=g)
    cols = torch.randint(1, m + 1, (B,), generator=g)
    a = (torch.arange(n)[None] < rows[:, None]).to(dtype) * torch.rand(
        B, n, generator=g, dtype=dtype
    )
    b = (torch.arange(m)[None] < cols[:, None]).to(dtype) * torch.rand(
        B, m, generator=g, dtype=dtype
    )
    a = a / a.sum(1, keepdim=True)
    b = b / b.sum(1, keepdim=True)
    return cost, a, b, rows, cols


def test_matches_pot_batched_and_per_pair_with_padding():
    cost, a, b, rows, cols = _padded_problem()
    plan, log = sinkhorn(cost, a, b, 0.05, max_iter=5000, tol=1e-13, log=True)
    assert float(log.marginal_error.max()) < 1e-12

    ref = ot.solve_batch(cost, 0.05, a, b, max_iter=5000, tol=1e-13, method="log_sinkhorn")
    assert torch.allclose(plan, ref.plan, atol=1e-10, rtol=0)
    value = sinkhorn2(cost, a, b, 0.05, max_iter=5000, tol=1e-13)
    assert torch.allclose(value, ref.value_linear, atol=1e-10, rtol=0)

    for k in range(cost.shape[0]):
        n, m = int(rows[k]), int(cols[k])
        args = (a[k, :n].numpy(), b[k, :m].numpy(), cost[k, :n, :m].numpy(), 0.05)
        pot_plan = ot.sinkhorn(*args, method="sinkhorn_log", numItermax=20000, stopThr=1e-14)
        pot_value = ot.sinkhorn2(*args, method="sinkhorn_log", numItermax=20000, stopThr=1e-14)
        assert np.abs(pot_plan - plan[k, :n, :m].numpy()).max() < 1e-6
        assert abs(float(pot_value) - float(value[k])) < 1e-6
        # padding carries exactly zero mass
        assert float(plan[k, n:].abs().sum() + plan[k, :, m:].abs().sum()) == 0.0


def test_hand_computed_two_by_two():
    # cost [[0, 1], [1, 0]], uniform masses 1/2: P = [[p, q], [q, p]] with
    # p / q = exp(1 / eps) and p + q = 1/2.
    eps = 0.5
    cost = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    half = torch.full((1, 2), 0.5, dtype=torch.float64)
    plan = sinkhorn(cost, half, half, eps, max_iter=50)
    p = 0.5 * np.exp(2.0) / (1.0 + np.exp(2.0))
    expected = torch.tensor([[[p, 0.5 - p], [0.5 - p, p]]], dtype=torch.float64)
    assert torch.allclose(plan, expected, atol=1e-12)


def test_marginals_unnormalised_masses_and_module():
    cost, a, b, _, _ = _padded_problem(seed=1)
    scale = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=torch.float64)[:, None]
    solver = Sinkhorn(epsilon=0.1, max_iter=2000, tol=1e-12)
    plan = solver(cost, a * scale, b * scale)
    assert torch.allclose(plan.sum(2), a * scale, atol=1e-10)
    assert torch.allclose(plan.sum(1), b * scale, atol=1e-10)
    assert "epsilon=0.1" in repr(solver)


def test_epsilon_scaling_reaches_the_same_plan():
    cost, a, b, _, _ = _padded_problem(seed=2)
    direct = sinkhorn(cost, a, b, 0.02, max_iter=20000, tol=1e-12)
    plan, log = sinkhorn(cost, a, b, 0.02, max_iter=20000, tol=1e-12, epsilon_start=1.0, log=True)
    assert torch.allclose(direct, plan, atol=1e-9)
    assert log.n_iter < 20000


def test_warm_start_from_converged_potentials():
    cost, a, b, _, _ = _padded_problem(seed=3)
    plan, log = sinkhorn(cost, a, b, 0.1, max_iter=3000, tol=1e-13, log=True)
    again = sinkhorn(cost, a, b, 0.1, max_iter=1, init=(log.f, log.g))
    assert torch.allclose(plan, again, atol=1e-12)


def test_tolerance_stops_early():
    cost, a, b, _, _ = _padded_problem(seed=4)
    _, log = sinkhorn(cost, a, b, 0.1, max_iter=10000, tol=1e-6, check_every=5, log=True)
    assert log.n_iter < 10000 and log.n_iter % 5 == 0
    assert float(log.marginal_error.max()) < 1e-6


def test_empty_single_and_tiny_epsilon_are_finite():
    cost = torch.rand(3, 4, 5) * 10
    a = torch.zeros(3, 4)
    b = torch.zeros(3, 5)
    a[1, 0], b[1, 0] = 1.0, 1.0  # one node each
    a[2], b[2] = 1.25, 1.0  # full problem
    plan = sinkhorn(cost, a, b, 1e-3, max_iter=200)
    assert torch.isfinite(plan).all()
    assert float(plan[0].abs().sum()) == 0.0  # empty problem: no mass, no NaN
    assert torch.allclose(plan[1, 0, 0], torch.tensor(1.0))
    assert torch.allclose(plan[2].sum(0), b[2], atol=1e-5)  # columns exact


def test_half_precision_is_solved_in_float32():
    cost, a, b, _, _ = _padded_problem(seed=8, dtype=torch.float32)
    reference = sinkhorn(cost, a, b, 0.05, max_iter=300)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plan = sinkhorn(cost.bfloat16(), a, b, 0.05, max_iter=300)
    assert plan.dtype == torch.bfloat16 and torch.isfinite(plan.float()).all()
    # bfloat16 rounds the cost (8 bits) and the returned plan; the solve is float32
    assert (plan.float() - reference).abs().max() < 0.02


def test_gradcheck_through_iterations(gradcheck):
    cost, a, b, _, _ = _padded_problem(B=3, n=4, m=3, seed=5)

    def plan_of(c):
        return sinkhorn(c, a, b, 0.2, max_iter=15)

    assert gradcheck(plan_of, [cost])


def test_envelope_gradient_is_the_plan_and_matches_autodiff():
    cost, a, b, _, _ = _padded_problem(seed=6)
    eps = 0.1
    c_env = cost.clone().requires_grad_(True)
    plan_env = sinkhorn(c_env, a, b, eps, max_iter=3000, tol=1e-13, grad="envelope")
    assert not plan_env.requires_grad
    (c_env * plan_env).sum().backward()
    assert torch.equal(c_env.grad, plan_env)

    # The entropic value min_P <C, P> + eps KL(P | a b^T), differentiated through
    # the iterations, has the plan as gradient (envelope theorem).
    c_auto = cost.clone().requires_grad_(True)
    plan = sinkhorn(c_auto, a, b, eps, max_iter=3000, tol=1e-13)
    ab = a[:, :, None] * b[:, None, :]
    ratio = torch.where(plan > 0, plan / torch.where(ab > 0, ab, 1.0), 1.0)
    value = (c_auto * plan).sum() + eps * (plan * ratio.log() - plan + ab).sum()
    value.backward()
    assert torch.allclose(c_auto.grad, plan_env, atol=1e-8)


def _saved_bytes(fn) -> int:
    """Bytes of distinct storages autograd saves for backward while running ``fn``."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_envelope_memory_does_not_grow_with_iterations():
    cost, a, b, _, _ = _padded_problem(B=16, n=20, m=20, seed=7, dtype=torch.float32)

    def run(iters, grad):
        c = cost.clone().requires_grad_(True)
        return _saved_bytes(lambda: sinkhorn2(c, a, b, 0.05, max_iter=iters, grad=grad).sum())

    assert run(10, "envelope") == run(200, "envelope")
    assert run(200, "autodiff") > 10 * run(10, "envelope")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cost": torch.rand(2, 3)}, "cost must be"),
        ({"a": torch.rand(2, 4)}, "a must be"),
        ({"b": torch.rand(3, 4)}, "b must be"),
        ({"cost": torch.full((2, 3, 4), float("inf"))}, "NaN or Inf"),
        ({"a": -torch.ones(2, 3)}, "non-negative"),
        ({"a": torch.ones(2, 3)}, "equal total mass"),
        ({"epsilon": 0.0}, "epsilon must be > 0"),
        ({"grad": "implicit"}, "grad must be"),
        ({"epsilon_decay": 1.5}, "epsilon_decay"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    args = {
        "cost": torch.rand(2, 3, 4),
        "a": torch.full((2, 3), 1 / 3),
        "b": torch.full((2, 4), 1 / 4),
        "epsilon": 0.1,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sinkhorn(**args)

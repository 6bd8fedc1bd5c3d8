"""Shared fixtures: float64 gradient checks for every differentiable path."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import pytest
import torch

# Without a GPU, the pool's Triton kernels (pyg_grapheme.nn.pool.gpu) are tested in Triton's
# interpreter on CPU tensors; it must be chosen before anything imports Triton.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the ``slow`` tests (half a minute or more each) first, in their collected order.

    pytest-xdist hands out tests in collection order; collected by file name, the long
    trainings came last, and one worker ran them while the other sat idle (the last 4% of
    the tests took over four of the suite's twelve minutes on 2 cores). Started first, and
    handed out one at a time (``--maxschedchunk 1`` in pyproject.toml), they are shared
    between the workers and the short tests fill the gaps.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: order kept


def _gradcheck(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    nondet_tol: float = 0.0,
    fast_mode: bool = False,
) -> bool:
    """``torch.autograd.gradcheck`` in float64 with every input requiring grad.

    Inputs are cast to float64 (leaf copies), so callers pass float32 or float64.
    ``fast_mode`` compares the Jacobian along random directions instead of entry by entry
    (torch's fast gradcheck): for whole networks with thousands of weights.
    Raises ``GradcheckError`` with the mismatching Jacobian on failure.
    """
    prepared = tuple(
        t.detach().to(torch.float64).requires_grad_(True) if t.is_floating_point() else t
        for t in inputs
    )
    return torch.autograd.gradcheck(
        fn,
        prepared,
        eps=eps,
        atol=atol,
        rtol=rtol,
        nondet_tol=nondet_tol,
        raise_exception=True,
        fast_mode=fast_mode,
    )


@pytest.fixture
def gradcheck() -> Callable[..., bool]:
    """Finite-difference gradient check in float64 (see ``_gradcheck``)."""
    return _gradcheck


class _LossOf(torch.nn.Module):
    """Wraps ``loss_fn(module)`` as a forward so ``functional_call`` can swap weights."""

    def __init__(self, inner: torch.nn.Module, loss_fn: Callable[[torch.nn.Module], torch.Tensor]):
        super().__init__()
        self.inner = inner
        self.loss_fn = loss_fn

    def forward(self) -> torch.Tensor:
        return self.loss_fn(self.inner)


@pytest.fixture
def module_gradcheck() -> Callable[..., bool]:
    """Gradcheck w.r.t. a module's weights: ``check(module, loss_fn, names=None, **tol)``.

    ``loss_fn(module) -> Tensor`` is evaluated with the named parameters
    replaced by float64 leaves (``torch.func.functional_call``), so the
    Jacobian w.r.t. weights, not only inputs, is checked.
    """

    def check(
        module: torch.nn.Module,
        loss_fn: Callable[[torch.nn.Module], torch.Tensor],
        names: Sequence[str] | None = None,
        **tolerances: float,
    ) -> bool:
        wrapper = _LossOf(module.double(), loss_fn)
        params = {n: p for n, p in wrapper.named_parameters()}
        names = list(params) if names is None else [f"inner.{n}" for n in names]
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"module has no parameters named {missing}")

        def call(*values: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(wrapper, dict(zip(names, values)), args=())

        return _gradcheck(call, [params[n].detach() for n in names], **tolerances)

    return check


@pytest.fixture
def merge_margin() -> Callable[[torch.nn.Module, object], float]:
    """``margin(net, inputs)``: smallest distance between the first pool's pair similarities
    and its threshold on ``inputs``, for a :class:`GraphTransformNet`. A gradcheck whose
    finite differences must not flip a merge needs it well above ``eps``."""

    def margin(net: torch.nn.Module, inputs: object) -> float:
        with torch.no_grad():
            info = net._pool(inputs).info
            if info.similarity.numel() == 0:
                return float("inf")
            return float((info.similarity - net.pool.threshold).abs().min())

    return margin


# Graph batches here are small: one intra-op thread is faster than two, and far
# faster when the cores are shared (OpenMP spinning under oversubscription cost
# 20-30x per op when measured). Subprocesses started by tests inherit it.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

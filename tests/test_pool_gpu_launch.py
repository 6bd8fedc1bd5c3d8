"""The CUDA path's direct launch (pyg_grapheme.nn.pool.gpu.launch.Kernel), checked without a
GPU against a stand-in for Triton: the first launch of a key goes through Triton's public
launcher, later ones call the built kernel's launcher with exactly the arguments Triton's
own launch passes (the positional ones, then constants and defaults in signature order).
On a GPU, tests/test_cuda.py checks the direct launch gives the same pool as the public one.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from pyg_grapheme.nn.pool.gpu import launch

tl: Any = None  # the kernel's annotations name it, as the pool's kernels do


def _kernel(out_ptr, in_ptr, size, SCALE: tl.constexpr, BLOCK: tl.constexpr = 64):  # type: ignore[no-untyped-def]
    pass


class _Compiled:
    """Stands in for Triton's CompiledKernel (3.4+): records the direct launches."""

    def __init__(self, launches: list[tuple[Any, ...]]) -> None:
        self.function = "function-handle"
        self.packed_metadata = "packed"
        self.launches = launches

    def launch_metadata(self, grid: tuple[int, ...], stream: int, *arguments: Any) -> Any:
        return ("metadata", grid, stream, len(arguments))

    def run(self, *arguments: Any) -> None:
        self.launches.append(arguments)


class _Jit:
    """Stands in for a JITFunction: records the public launches, returns one _Compiled."""

    def __init__(self, compiled: Any) -> None:
        self.fn = _kernel
        self.__name__ = "_kernel"
        self.public: list[tuple[Any, ...]] = []
        self.compiled = compiled

    def __getitem__(self, grid: tuple[int, ...]) -> Any:
        def run(*arguments: Any, **keywords: Any) -> Any:
            self.public.append((grid, arguments, keywords))
            return self.compiled

        return run


@pytest.fixture
def fake_triton(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    runtime = SimpleNamespace(launch_enter_hook="enter", launch_exit_hook="exit")
    driver = SimpleNamespace(
        active=SimpleNamespace(get_current_stream=lambda device: 7000 + device)
    )
    fake = SimpleNamespace(
        knobs=SimpleNamespace(runtime=runtime), runtime=SimpleNamespace(driver=driver)
    )
    monkeypatch.setattr(launch, "triton", fake)
    monkeypatch.setattr(launch, "interpreted", lambda: False)
    monkeypatch.setattr(launch, "DIRECT_LAUNCH", True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    return fake


def test_direct_launch_passes_tritons_arguments(fake_triton: SimpleNamespace) -> None:
    direct: list[tuple[Any, ...]] = []
    jit = _Jit(_Compiled(direct))
    kernel = launch.Kernel(jit)
    out, values = torch.zeros(4), torch.ones(4, dtype=torch.float64)

    kernel[(3,)](out, values, 4, SCALE=2)
    assert jit.public == [((3,), (out, values, 4), {"SCALE": 2})] and direct == []

    kernel[(5, 2)](out, values, 9, SCALE=2)
    assert len(jit.public) == 1
    (arguments,) = direct
    assert arguments[:7] == (
        5,
        2,
        1,
        7000,
        "function-handle",
        "packed",
        ("metadata", (5, 2), 7000, 5),
    )
    assert arguments[7:9] == ("enter", "exit")
    assert arguments[9:] == (out, values, 9, 2, 64)  # SCALE given, BLOCK its default


def test_a_new_key_goes_through_triton_first(fake_triton: SimpleNamespace) -> None:
    direct: list[tuple[Any, ...]] = []
    jit = _Jit(_Compiled(direct))
    kernel = launch.Kernel(jit)
    out, values = torch.zeros(4), torch.ones(4)
    kernel[(1,)](out, values, 4, SCALE=2)
    kernel[(1,)](out, values, 4, SCALE=3)  # another constant
    kernel[(1,)](out, values, 2**31, SCALE=2)  # Triton passes this size as i64
    kernel[(1,)](out, values.double(), 4, SCALE=2)  # another dtype
    kernel[(1,)](out, values, 4, SCALE=2, num_warps=1)  # another launch option
    assert len(jit.public) == 5 and direct == []
    kernel[(1,)](out, values, 2**31 - 1, SCALE=2)  # still i32: the first key
    kernel[(1,)](out, values, 2**32, SCALE=2)  # i64, the third key
    assert len(jit.public) == 5
    assert [arguments[9:] for arguments in direct] == [
        (out, values, 2**31 - 1, 2, 64),
        (out, values, 2**32, 2, 64),
    ]


def test_public_launch_only_where_direct_is_off_or_unsupported(
    fake_triton: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, values = torch.zeros(4), torch.ones(4)
    old = SimpleNamespace(function="f", launch_metadata=None, run=None)  # no packed_metadata
    jit = _Jit(old)
    kernel = launch.Kernel(jit)
    for _ in range(3):
        kernel[(1,)](out, values, 4, SCALE=2)
    assert len(jit.public) == 3

    direct: list[tuple[Any, ...]] = []
    jit = _Jit(_Compiled(direct))
    kernel = launch.Kernel(jit)
    monkeypatch.setattr(launch, "DIRECT_LAUNCH", False)
    for _ in range(3):
        kernel[(1,)](out, values, 4, SCALE=2)
    assert len(jit.public) == 3 and direct == []


def test_a_constant_passed_by_position_is_keyed_by_its_value(fake_triton: SimpleNamespace) -> None:
    """A compile-time constant given by position picks the built kernel by its value, as
    Triton's launch does (the pool passes CHANNELS so): a kernel built for 2 is never
    launched for 3. Keyed by its type alone, the first H200 run of the direct launch scored
    pairs of 1- and 3-channel batches with a kernel built for another width."""
    direct: list[tuple[Any, ...]] = []
    jit = _Jit(_Compiled(direct))
    kernel = launch.Kernel(jit)
    out, values = torch.zeros(4), torch.ones(4)
    kernel[(1,)](out, values, 4, 2)
    kernel[(1,)](out, values, 4, 3)
    assert len(jit.public) == 2 and direct == []
    kernel[(1,)](out, values, 4, 3)
    assert len(jit.public) == 2 and [arguments[9:] for arguments in direct] == [
        (out, values, 4, 3, 64)
    ]


def test_a_missing_argument_is_named(fake_triton: SimpleNamespace) -> None:
    jit = _Jit(_Compiled([]))
    kernel = launch.Kernel(jit)
    with pytest.raises(TypeError, match="_kernel: no value for SCALE"):
        kernel[(1,)](torch.zeros(1), torch.zeros(1), 1)


def test_a_launcher_that_takes_other_arguments_falls_back_to_tritons(
    fake_triton: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Triton whose built kernels' launchers take other arguments rejects the first direct
    launch before launching; that launch and every later one of the key go through Triton's
    own launcher, and the failure is recorded for the benches."""

    class Rejects(_Compiled):
        def run(self, *arguments: Any) -> None:
            raise TypeError("function takes exactly 12 arguments (14 given)")

    monkeypatch.setattr(launch, "DIRECT_FAILURES", [])
    jit = _Jit(Rejects([]))
    kernel = launch.Kernel(jit)
    out, values = torch.zeros(4), torch.ones(4)
    for _ in range(3):
        kernel[(1,)](out, values, 4, SCALE=2)
    assert len(jit.public) == 3 and kernel.direct_launches == 0
    assert launch.DIRECT_FAILURES == [
        "_kernel: TypeError('function takes exactly 12 arguments (14 given)')"
    ]


def test_a_launcher_error_after_a_direct_launch_is_raised(fake_triton: SimpleNamespace) -> None:
    """Once a key has launched directly, a launcher error is the launch's own: raised."""
    calls: list[tuple[Any, ...]] = []

    class FailsLater(_Compiled):
        def run(self, *arguments: Any) -> None:
            calls.append(arguments)
            if len(calls) > 1:
                raise ValueError("bad grid")

    jit = _Jit(FailsLater([]))
    kernel = launch.Kernel(jit)
    out, values = torch.zeros(4), torch.ones(4)
    kernel[(1,)](out, values, 4, SCALE=2)
    kernel[(1,)](out, values, 4, SCALE=2)
    assert kernel.direct_launches == 1
    with pytest.raises(ValueError, match="bad grid"):
        kernel[(1,)](out, values, 4, SCALE=2)


def test_a_direct_launch_rebinds_nothing_in_the_module(fake_triton: SimpleNamespace) -> None:
    """The stream function is the Triton in use at a kernel's first launch, kept by the
    kernel: a stand-in Triton (as here) never leaks into a later real launch."""
    before = dict(vars(launch))
    direct: list[tuple[Any, ...]] = []
    kernel = launch.Kernel(_Jit(_Compiled(direct)))
    out, values = torch.zeros(4), torch.ones(4)
    for _ in range(2):
        kernel[(1,)](out, values, 4, SCALE=2)
    assert [arguments[3] for arguments in direct] == [7000]
    after = vars(launch)
    assert {name for name in after if after[name] is not before.get(name)} == set()

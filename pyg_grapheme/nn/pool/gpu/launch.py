r"""How the pool's Triton kernels are built and launched, shared by every module of
:mod:`pyg_grapheme.nn.pool.gpu`.

Triton is imported on first use (it ships with CUDA builds of torch; CPU-only installs may
lack it): the kernels are plain functions that name ``tl`` as a global, which
:func:`available` binds, and :func:`kernel` turns them into Triton kernels once. Given CPU
tensors they run in Triton's interpreter (``TRITON_INTERPRET=1`` set before Triton is
imported), which is how the tests check every kernel on machines without a GPU.

A launch goes through :class:`Kernel`. With :data:`DIRECT_LAUNCH` set, the first launch of
a kernel for given argument types and compile-time constants goes through Triton's public
launcher, which compiles (or finds) the kernel, and later launches call the built kernel's
native launcher directly, skipping the per-call argument binding and cache lookup that cost
the host more than the launch itself at the sizes where the pool is launch-bound: on an
H200 a call of 2,048 or 131,072 nodes took 4-16% less time (``bench/results/pool_gpu.md``).
It is off by default: that run also found a kernel chosen by a constant's type rather than
its value, fixed since and tested here, but not yet run on a GPU.

Kernels that compare or order floating values (similarities, norms, the feature scale) are
built without fused multiply-adds, and divide and take roots correctly rounded
(``tl.div_rn``, ``tl.sqrt_rn``), so that they round as the host kernels and torch do.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import torch

triton: Any = None
tl: Any = None

BLOCK = 1024  # one program's share of a one-dimensional launch
ROW_BLOCK = 128  # rows per program where each row loops over the feature channels
TILE = 2048  # elements of one program's [rows, channels] tile (kernels whose order is free)

# 32-bit mask and the largest 32-bit value: the low half of a matching key holds the pair.
LOW_BITS = 0xFFFFFFFF


def available() -> bool:
    """Whether Triton is importable (imports it on the first call and binds ``tl`` in every
    kernel module of this package)."""
    global triton, tl
    if triton is None:
        try:
            import triton as triton_module
            import triton.language as language
        except ImportError:
            return False
        triton, tl = triton_module, language
        for name, module in list(sys.modules.items()):
            if name.startswith("pyg_grapheme.nn.pool.gpu.") and hasattr(module, "tl"):
                module.tl = language
        for function in _DEVICE_FUNCTIONS:
            module = sys.modules[function.__module__]
            setattr(module, function.__name__, triton.jit(function))
    return True


_DEVICE_FUNCTIONS: list[Callable[..., Any]] = []


def device_function(function: Callable[..., Any]) -> Callable[..., Any]:
    """Marks ``function`` as a helper the kernels call: once Triton is imported
    (:func:`available`) its module's name for it is bound to the Triton function (Triton
    compiles a call only to one)."""
    _DEVICE_FUNCTIONS.append(function)
    return function


def interpreted() -> bool:
    """Whether Triton runs its kernels in its interpreter (``TRITON_INTERPRET=1`` set before
    Triton was imported): then they take CPU tensors, which is how the tests check them on
    machines without a GPU."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


# Launch built kernels through their native launcher after the first launch (see Kernel).
# Off until tests/test_pool_paths_agree.py's CUDA tests pass with it on a GPU (the module
# docstring says why); bench/pool_gpu_launches.py --launcher both measures both.
DIRECT_LAUNCH = False

# The first direct launch of a key that failed (and went through Triton's launcher instead):
# "kernel: error", for the benches to print.
DIRECT_FAILURES: list[str] = []

_INT32 = (-(2**31), 2**31 - 1)


def _argument_type(value: Any) -> Any:
    """What Triton's compiled code depends on in one runtime argument of these kernels: a
    tensor's dtype, the width Triton passes an integer in (``i32``, ``i64`` or ``u64``), or
    the Python type otherwise. Values and alignments are not (the kernels are built with
    ``do_not_specialize`` and ``do_not_specialize_on_alignment``)."""
    if isinstance(value, torch.Tensor):
        return value.dtype
    if isinstance(value, bool) or value is None:
        return type(value)
    if isinstance(value, int):
        return "i32" if _INT32[0] <= value <= _INT32[1] else "i64" if value < 2**63 else "u64"
    return type(value)


def _is_constant(parameter: inspect.Parameter) -> bool:
    """Whether a kernel's parameter is a compile-time constant (annotated ``tl.constexpr``)."""
    return "constexpr" in str(parameter.annotation)


def _stream_function() -> Callable[[int], int]:
    """The function giving the raw CUDA stream a launch on a device goes to: the one Triton's
    own launch calls (torch's current stream on that device), read from the Triton in use at
    each kernel's first launch, so nothing of the module is rebound."""
    driver = getattr(getattr(triton, "runtime", None), "driver", None)
    current = getattr(getattr(driver, "active", None), "get_current_stream", None)
    if current is not None:
        return current
    return lambda device: torch.cuda.current_stream(device).cuda_stream


class Kernel:
    """A Triton kernel, launched as ``kernel[grid](*arguments, **constants)`` like Triton's own.

    The first launch for a given :func:`_argument_type` of each positional argument, value of
    each compile-time constant, set of keyword arguments (compile-time constants and launch
    options) and device goes through
    Triton's public launcher, which compiles or finds the kernel and returns it; later launches
    with the same key call the built kernel's launcher directly with the same arguments Triton
    would pass (the positional ones, then the constants and defaults in the signature's order).

    The direct launch is used only where the built kernel has the launcher Triton 3.4+ builds
    (``run``, ``function`` and ``packed_metadata``, and ``triton.knobs``); otherwise, in
    Triton's interpreter, or with :data:`DIRECT_LAUNCH` false, every launch is Triton's own.
    """

    def __init__(self, function: Any) -> None:
        self.function = function
        self.parameters = list(inspect.signature(function.fn).parameters.values())
        # Compile-time constants a call may pass by position: their values, not their types,
        # pick the built kernel.
        self._constant_positions = tuple(
            i for i, p in enumerate(self.parameters) if _is_constant(p)
        )
        # Per key: the built kernel (None: Triton's own launch), the arguments bound after
        # the positional ones, and the function giving the raw stream of a device.
        self._built: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...], Callable[[int], int]]] = {}
        self._launched: set[tuple[Any, ...]] = set()  # keys launched directly at least once
        self.direct_launches = 0  # launches that skipped Triton's launcher (tests, benches)

    def __getitem__(self, grid: tuple[int, ...]) -> Callable[..., None]:
        return functools.partial(self.launch, grid)

    def launch(self, grid: tuple[int, ...], *arguments: Any, **keywords: Any) -> None:
        """Launches the kernel over ``grid`` (one to three program counts)."""
        if not DIRECT_LAUNCH or interpreted():
            self.function[grid](*arguments, **keywords)
            return
        device = torch.cuda.current_device()
        types = tuple(map(_argument_type, arguments))
        given = len(arguments)
        constants = tuple(arguments[i] for i in self._constant_positions if i < given)
        key = (device, types, constants, tuple(keywords.items()))
        built = self._built.get(key)
        if built is None:
            compiled = self.function[grid](*arguments, **keywords)
            self._built[key] = (
                self._direct(compiled), self._tail(len(arguments), keywords), _stream_function()
            )  # fmt: skip
            return
        compiled, tail, current_stream = built
        if compiled is None:
            self.function[grid](*arguments, **keywords)
            return
        stream = current_stream(device)
        runtime = triton.knobs.runtime
        size = len(grid)
        every = (*arguments, *tail)
        try:
            compiled.run(
                grid[0], grid[1] if size > 1 else 1, grid[2] if size > 2 else 1, stream,
                compiled.function, compiled.packed_metadata,
                compiled.launch_metadata(grid, stream, *every),
                runtime.launch_enter_hook, runtime.launch_exit_hook, *every,
            )  # fmt: skip
        except (TypeError, AttributeError, ValueError) as error:
            if key in self._launched:
                raise
            # The launcher parses its arguments before it launches: a Triton whose built
            # kernels take others fails at the first direct launch, which Triton's own
            # launch then replaces, as it does every later launch of the key.
            DIRECT_FAILURES.append(f"{self.function.__name__}: {error!r}")
            self._built[key] = (None, tail, current_stream)
            self.function[grid](*arguments, **keywords)
            return
        self._launched.add(key)
        self.direct_launches += 1

    @staticmethod
    def _direct(compiled: Any) -> Any:
        """``compiled`` where its launcher can be called directly, else :obj:`None`."""
        needed = ("run", "function", "packed_metadata", "launch_metadata")
        if getattr(triton, "knobs", None) is None or not all(
            hasattr(compiled, name) for name in needed
        ):
            return None
        return compiled

    def _tail(self, given: int, keywords: dict[str, Any]) -> tuple[Any, ...]:
        """The arguments Triton binds after the ``given`` positional ones: each later
        parameter's keyword value, or its default."""
        tail = []
        for parameter in self.parameters[given:]:
            if parameter.name in keywords:
                tail.append(keywords[parameter.name])
            elif parameter.default is not inspect.Parameter.empty:
                tail.append(parameter.default)
            else:
                raise TypeError(f"{self.function.__name__}: no value for {parameter.name}")
        return tuple(tail)


_KERNELS: dict[Callable[..., None], Kernel] = {}


def kernel(function: Callable[..., None], device: torch.device) -> Kernel:
    """``function`` as a Triton kernel (built once), for tensors on ``device``.

    Raises:
        RuntimeError: without Triton, or for CPU tensors outside Triton's interpreter.
    """
    if not available():
        raise RuntimeError("pyg_grapheme.nn.pool.gpu needs Triton (pip install triton)")
    if device.type != "cuda" and not interpreted():
        raise RuntimeError(
            f"pyg_grapheme.nn.pool.gpu: the kernels take CUDA tensors (got {device}), or CPU "
            f"tensors in Triton's interpreter (TRITON_INTERPRET=1 before importing triton)"
        )
    built = _KERNELS.get(function)
    if built is None:
        module = sys.modules[function.__module__]
        if getattr(module, "tl", None) is None:
            module.tl = tl  # type: ignore[attr-defined]
        # Sizes and strides vary from call to call: a kernel specialised on their values (one,
        # or a multiple of 16) or on its pointers' alignment would be compiled again for many
        # batches, for no measurable gain in these memory-bound loops.
        parameters = inspect.signature(function).parameters
        values = [n for n, p in parameters.items() if not _is_constant(p)]
        sizes = [n for n in values if not n.endswith("_ptr")]
        built = _KERNELS[function] = Kernel(
            triton.jit(function, do_not_specialize=sizes, do_not_specialize_on_alignment=values)
        )
    return built


def direct_launches() -> int:
    """Launches of every kernel so far that skipped Triton's launcher."""
    return sum(built.direct_launches for built in _KERNELS.values())


def grid(size: int, block: int = BLOCK) -> tuple[int]:
    """Programs that cover ``size`` items, ``block`` each (at least one)."""
    return (max(1, (size + block - 1) // block),)


def tile(channels: int) -> tuple[int, int]:
    """``(rows, columns)`` of a program's tile over an :math:`[N, F]` array: the channels
    padded to a power of two (Triton's blocks are), about :data:`TILE` elements.

    A tile loads whole rows, so the threads of a warp read consecutive channels (one or two
    cache lines) and their atomics hit distinct addresses; a loop over the channels with one
    row per thread reads one element of each of 32 rows at a time, and its per-graph atomics
    put 32 threads on one address. Kernels whose arithmetic order the tie rules fix keep
    that loop.
    """
    columns = 1 << max(channels - 1, 0).bit_length()
    return max(1, TILE // columns), columns


def search_steps(size: int) -> int:
    """Halvings a binary search over ``size`` sorted entries needs to end (a kernel's
    compile-time constant: kernels are built once per power of two)."""
    steps = 1
    while (1 << steps) <= size:
        steps += 1
    return steps + 1

"""The order of the training batches and the random state, saved in every checkpoint.

A run resumed with ``--ckpt_path last`` must end with the same weights, bit for
bit, as the run that was never stopped. Lightning restores the weights, the
optimizer, the schedule and its loop counters; what it does not restore is
where randomness comes from:

- **the shuffle.** Each epoch, PyTorch's ``RandomSampler`` draws one int64 from
  torch's global generator and permutes the pairs with a generator seeded by
  it. :class:`ResumableBatches` draws the same number at the same moment and
  cuts the same permutation into the same batches, so a run that is never
  stopped is unchanged; its checkpoint keeps the epoch's seed and how many
  batches were trained, and a resumed epoch replays that permutation from the
  first batch not yet trained;
- **the random state.** Feature augmentation in the training step and operand
  swaps in the dataset draw from torch's global generator (numpy's and
  Python's are saved too). The checkpoint stores the state at its save point;
  a resumed run sets it where the stopped run would have gone on. Lightning
  fetches each batch before the step of the previous one, so the batches
  fetched but not yet trained at the save point are fetched again from the
  state each was first fetched from (kept as each batch is requested), and the
  saved state is set before the next fetch. At the end of an epoch the state
  is set before the next epoch's loader draws its seeds.

Exact for a single process with ``num_workers=0`` (the default). With loader
workers the batches and the main process's draws are replayed, but a dataset
that draws random numbers in its workers (operand swaps) draws them anew; under
DDP the order comes from Lightning's ``DistributedSampler`` and only the
weights and optimizer are restored.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["ResumableBatches", "TrainingOrder", "rng_states", "set_rng_states"]

_SNAPSHOTS_KEPT = 64
"""States kept for the most recently requested batches; more than any loader prefetches."""


def rng_states() -> dict[str, Any]:
    """torch's, numpy's and Python's global random states (and CUDA's when in use), as plain
    tensors, numbers and tuples that ``torch.load(weights_only=True)`` reads back."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Set the global random states :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ResumableBatches(Sampler[list[int]]):
    """Shuffled batches of ``range(num_samples)``: ``RandomSampler`` + ``BatchSampler`` (no
    drop), drawn the same way, that a checkpoint can stop and resume mid-epoch.

    **Batches of like lengths** (``lengths`` given): the epoch's permutation is sorted by
    length (stably, so pairs of one length stay in random order), cut into batches, and the
    batches are shuffled with the same seed. A batch's tensors are padded to its longest
    pair (the transducer's lattice is ``[B, n_max, m_max + 1]``), so like lengths spare
    the padding: on Bulgarian G2P a step costs about a third less. Every pair is still
    seen once an epoch, and which pairs share a batch changes every epoch.

    Args:
        num_samples: pairs per epoch.
        batch_size: pairs per batch (the last batch may be smaller).
        lengths: optional sort key of each pair (``num_samples`` entries), e.g. its
            input and target lengths.
    """

    def __init__(
        self, num_samples: int, batch_size: int, lengths: list[tuple[int, ...]] | None = None
    ) -> None:
        if num_samples < 1 or batch_size < 1:
            raise ValueError(
                f"ResumableBatches needs num_samples >= 1 and batch_size >= 1, got "
                f"{num_samples} and {batch_size}"
            )
        if lengths is not None and len(lengths) != num_samples:
            raise ValueError(f"ResumableBatches: {len(lengths)} lengths for {num_samples} samples")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.lengths = lengths
        self.epoch_seed: int | None = None
        self._before: dict[int, dict[str, Any]] = {}
        self._resume: Mapping[str, Any] | None = None

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def resume(self, state: Mapping[str, Any]) -> None:
        """Make the next epoch the interrupted one of ``state`` (:meth:`TrainingOrder.state_dict`)."""
        self._resume = state

    def states_before(self, first: int) -> dict[int, dict[str, Any]]:
        """Random states from just before batches ``first, first + 1, ...`` were requested,
        for the batches requested so far."""
        return {k: v for k, v in self._before.items() if k >= first}

    def __iter__(self) -> Iterator[list[int]]:
        resume, self._resume = self._resume, None
        restore: dict[int, Mapping[str, Any]] = {}
        if resume is None:
            # RandomSampler's draw, at the same moment (the first batch's request).
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            first = 0
        else:
            seed, first = int(resume["epoch_seed"]), int(resume["batches_done"])
            restore = dict(resume["before_batch"])
            restore[max(restore, default=first - 1) + 1] = resume["rng"]
        self.epoch_seed = seed
        self._before = {}
        generator = torch.Generator()
        generator.manual_seed(seed)
        order = torch.randperm(self.num_samples, generator=generator).tolist()
        lengths = self.lengths
        if lengths is not None:
            order.sort(key=lambda i: lengths[i])  # stable: random within a length
        batches = [order[b * self.batch_size : (b + 1) * self.batch_size] for b in range(len(self))]
        if lengths is not None:
            batches = [
                batches[b] for b in torch.randperm(len(batches), generator=generator).tolist()
            ]
        for batch in range(first, len(self)):
            if batch in restore:
                set_rng_states(restore[batch])
            self._before[batch] = rng_states()
            self._before.pop(batch - _SNAPSHOTS_KEPT, None)
            yield batches[batch]
        # The request after the last batch: where the state saved after the last batch
        # that was fetched before the stop belongs, if that was the epoch's last.
        if len(self) in restore:
            set_rng_states(restore[len(self)])


class TrainingOrder:
    """What a DataModule saves in a checkpoint so that a resumed fit goes on exactly: the
    current epoch's :class:`ResumableBatches` and the random states (module docstring)."""

    def __init__(self) -> None:
        self.batches: ResumableBatches | None = None
        self._pending: Mapping[str, Any] | None = None

    def batches_for(
        self, num_samples: int, batch_size: int, lengths: list[tuple[int, ...]] | None = None
    ) -> ResumableBatches:
        """The batch sampler of a new training DataLoader (batches of like ``lengths`` when
        given: :class:`ResumableBatches`); the first one after a checkpoint was loaded
        resumes its epoch (or, when the epoch had ended, sets the random state before the
        loader draws its seeds)."""
        batches = ResumableBatches(num_samples, batch_size, lengths)
        state, self._pending = self._pending, None
        if state:
            if state["epoch_finished"]:
                set_rng_states(state["rng"])
            elif (state["num_samples"], state["batch_size"]) != (num_samples, batch_size):
                raise ValueError(
                    "the checkpoint stopped in the middle of an epoch of "
                    f"{state['num_samples']} training pairs in batches of {state['batch_size']}; "
                    f"this run has {num_samples} pairs in batches of {batch_size}. Resume with "
                    "the data options the checkpoint was written with"
                )
            else:
                batches.resume(state)
        self.batches = batches
        return batches

    def state_dict(self, trainer: Any) -> dict[str, Any]:
        """The resume state at a checkpoint of ``trainer``'s fit (empty before training)."""
        if self.batches is None or trainer is None or self.batches.epoch_seed is None:
            return {}
        done = int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)
        finished = done >= trainer.num_training_batches
        return {
            "num_samples": self.batches.num_samples,
            "batch_size": self.batches.batch_size,
            "epoch_seed": self.batches.epoch_seed,
            "batches_done": done,
            "epoch_finished": finished,
            "before_batch": {} if finished else self.batches.states_before(done),
            "rng": rng_states(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Keep ``state`` for the next :meth:`batches_for`."""
        self._pending = state or None

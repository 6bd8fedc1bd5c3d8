"""ResumableBatches: random batches, or batches of like lengths, that a checkpoint resumes."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.training_order import ResumableBatches

# 10 pairs: lengths 1..5, two pairs of each, in a scrambled order.
LENGTHS = [(3,), (1,), (5,), (2,), (4,), (1,), (3,), (5,), (2,), (4,)]


def _epoch(sampler: ResumableBatches, seed: int) -> list[list[int]]:
    torch.manual_seed(seed)
    return list(sampler)


def test_without_lengths_the_batches_are_random_samplers():
    """The batches are RandomSampler's permutation cut in order (the former behaviour)."""
    torch.manual_seed(3)
    seed = int(torch.empty((), dtype=torch.int64).random_().item())
    generator = torch.Generator()
    generator.manual_seed(seed)
    expected = torch.randperm(10, generator=generator).tolist()
    batches = _epoch(ResumableBatches(10, 4), 3)
    assert batches == [expected[0:4], expected[4:8], expected[8:10]]


def test_batches_of_like_lengths_hold_every_pair_once_and_sorted_runs():
    sampler = ResumableBatches(10, 2, LENGTHS)
    batches = _epoch(sampler, 0)
    assert sorted(i for b in batches for i in b) == list(range(10))
    # Two pairs of each length and batches of two: every batch holds one length.
    assert sorted(tuple(LENGTHS[i][0] for i in b) for b in batches) == [
        (1, 1), (2, 2), (3, 3), (4, 4), (5, 5),
    ]  # fmt: skip


def test_batches_of_like_lengths_change_order_and_company_with_the_seed():
    """Which batch comes first, and which pairs of one length share a batch, follow the
    epoch's seed; the same seed gives the same batches."""
    sampler = ResumableBatches(10, 3, LENGTHS)
    first = [_epoch(sampler, s) for s in range(6)]
    assert _epoch(sampler, 0) == first[0]
    assert len({tuple(map(tuple, e)) for e in first}) > 1
    assert len({tuple(e[0]) for e in first}) > 1
    for batches in first:
        # Sorted before cutting: each batch spans at most two neighbouring lengths.
        for b in batches:
            span = [LENGTHS[i][0] for i in b]
            assert max(span) - min(span) <= 1


def test_a_resumed_epoch_replays_the_batches_not_yet_trained():
    sampler = ResumableBatches(10, 3, LENGTHS)
    full = _epoch(sampler, 5)
    again = ResumableBatches(10, 3, LENGTHS)
    again.resume({"epoch_seed": sampler.epoch_seed, "batches_done": 2, "before_batch": {},
                  "rng": {"torch": torch.get_rng_state(), "numpy": _numpy_state(),
                          "python": _python_state()}})  # fmt: skip
    assert list(again) == full[2:]


def test_lengths_must_match_the_samples():
    with pytest.raises(ValueError, match="3 lengths for 10 samples"):
        ResumableBatches(10, 2, [(1,), (2,), (3,)])


def _numpy_state():
    from lightning_modules.training_order import rng_states

    return rng_states()["numpy"]


def _python_state():
    import random

    return random.getstate()


def test_the_data_module_batches_pairs_of_like_lengths(tmp_path):
    """``data.batch_by_length``: input graphemes, then target units, sort the pairs before
    they are cut into batches (here 4 lengths, 4 pairs each, batches of 4)."""
    import json

    from lightning_modules.datamodule import GraphemeDataModule

    words = ["a" * n + "b" * k for n in (1, 3, 5, 7) for k in range(4)]
    rows = [{"input": w, "target": " ".join(w[: 1 + (i % 2)])} for i, w in enumerate(words)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = GraphemeDataModule(task=None, train_path=str(path), val_path=str(path),
                              batch_size=4, target_units="tokens", batch_by_length=True)  # fmt: skip
    data.setup("fit")
    torch.manual_seed(0)
    batches = list(data.train_dataloader().batch_sampler)
    assert sorted(i for b in batches for i in b) == list(range(16))
    keys = [(len(words[i]), len(rows[i]["target"].split())) for i in range(16)]
    for batch in batches:
        assert (
            sorted(keys[i] for i in batch)
            == sorted(keys)[sorted(keys).index(min(keys[i] for i in batch)) :][:4]
        )
    plain = GraphemeDataModule(task=None, train_path=str(path), val_path=str(path),
                               batch_size=4, target_units="tokens")  # fmt: skip
    plain.setup("fit")
    assert plain.train_dataloader().batch_sampler.lengths is None

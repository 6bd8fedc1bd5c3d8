"""GraphemeDataModule: generated curricula or JSONL files as (input, target) graph pairs."""

from __future__ import annotations

from functools import cached_property

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from lightning_modules.training_order import TrainingOrder
from pyg_grapheme.data import PairDataset, TextPair, collate_pairs, generate, read_jsonl
from pyg_grapheme.data.commutative_swap import CommutativeSwapDataset
from pyg_grapheme.data.gsm8k import check_gsm8k_target
from pyg_grapheme.models.output_units import UNIT_MODES, OutputUnits, choose_units

__all__ = ["GraphemeDataModule"]


class GraphemeDataModule(pl.LightningDataModule):
    """Training and validation pairs, from a generator or from JSONL files.

    With ``train_path`` set, pairs are read from that JSONL file (pairs or math
    format, auto-detected) and validation from ``val_path`` (required then).
    Otherwise ``task`` is generated: ``n_train`` training pairs from
    ``alphabet`` with lengths ``min_len..max_len`` and ``n_val`` validation
    pairs whose inputs never occur in training, from ``val_alphabet`` (default:
    the training alphabet) with lengths up to ``val_max_len`` (default:
    ``max_len``), so validation measures generalisation, not recall.

    Args:
        task: a generated task (:data:`~pyg_grapheme.data.TASKS`), or ``None`` when the
            data comes from files only (then ``train_path`` is required).
        train_path, val_path: JSONL files (override ``task``).
        test_path: a JSONL file of held-out pairs, never trained or validated on: its
            inputs are kept out of every training augmentation (an operand swap never
            writes a held-out problem), and ``trainer.test`` scores it.
        skip_bad_lines: skip malformed JSONL lines (and report how many) instead of failing.
        gsm8k_target: the target of GSM8K records (:mod:`pyg_grapheme.data.gsm8k`):
            ``"final"`` (default), the number after ``####``, or ``"steps"``, the
            worked answer without its calculator notes.
        n_train, n_val: numbers of generated pairs.
        alphabet, val_alphabet: alphabet names (``pyg_grapheme.data.ALPHABETS``).
        min_len, max_len, val_min_len, val_max_len: lengths in grapheme clusters.
        level: math curriculum level.
        seed: generator seed (validation uses ``seed + 1``).
        batch_size, num_workers: DataLoader settings.
        swap_commutative: probability of swapping the operands of each ``+``
            and ``*`` of a training problem each time it is drawn
            (:class:`~pyg_grapheme.data.commutative_swap.CommutativeSwapDataset`);
            a swap that would give a validation input is not made. 0 (default)
            for string tasks.
        target_units: what one output node writes, ``"graphemes"`` or ``"tokens"``
            (whitespace-separated units such as phones;
            :class:`~pyg_grapheme.models.output_units.OutputUnits`); ``None`` chooses
            from the training targets (:func:`~pyg_grapheme.models.output_units.choose_units`)
            and prints the choice. Linked to ``model.net.output_units`` by the CLI.
    """

    def __init__(
        self,
        task: str | None = "dedupe",
        train_path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        skip_bad_lines: bool = False,
        n_train: int = 2000,
        n_val: int = 200,
        alphabet: str = "latin",
        val_alphabet: str | None = None,
        min_len: int = 1,
        max_len: int = 8,
        val_min_len: int | None = None,
        val_max_len: int | None = None,
        level: int = 1,
        seed: int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
        swap_commutative: float = 0.0,
        gsm8k_target: str = "final",
        target_units: str | None = None,
    ) -> None:
        super().__init__()
        check_gsm8k_target(gsm8k_target)
        if train_path is not None and val_path is None:
            raise ValueError("data.val_path is required when data.train_path is given")
        if train_path is None and task is None:
            raise ValueError(
                "no training data: give --data.train_path and --data.val_path (JSONL files), "
                "or --data.task to generate a curriculum task"
            )
        if target_units is not None and target_units not in UNIT_MODES:
            raise ValueError(
                f"data.target_units must be one of {UNIT_MODES} or null, got {target_units!r}"
            )
        self.save_hyperparameters()
        # The shuffle and the random state, saved with every checkpoint for an exact resume.
        self.training_order = TrainingOrder()

    def setup(self, stage: str) -> None:
        """Read (and so check) the training and validation pairs before the first step: a bad
        validation file stops the run before it trains, not when validation first runs."""
        self.train_pairs, self.val_pairs  # noqa: B018

    # The pairs are built once, on first use, identically on every process.
    @cached_property
    def train_pairs(self) -> list[TextPair]:
        h = self.hparams
        if h.train_path is not None:
            return self._read(h.train_path)
        return generate(
            h.task,
            h.n_train,
            seed=h.seed,
            alphabet=h.alphabet,
            min_len=h.min_len,
            max_len=h.max_len,
            level=h.level,
        )

    @cached_property
    def val_pairs(self) -> list[TextPair]:
        h = self.hparams
        if h.val_path is not None:
            return self._read(h.val_path)
        return generate(
            h.task,
            h.n_val,
            seed=h.seed + 1,
            alphabet=h.val_alphabet or h.alphabet,
            min_len=h.val_min_len or h.min_len,
            max_len=h.val_max_len or h.max_len,
            level=h.level,
            exclude={p.input for p in self.train_pairs},
        )

    def _read(self, path: str) -> list[TextPair]:
        h = self.hparams
        result = read_jsonl(path, skip_bad_lines=h.skip_bad_lines, gsm8k_target=h.gsm8k_target)
        return list(result)

    @cached_property
    def output_units(self) -> str:
        """``data.target_units``, or the mode :func:`choose_units` reads off the training
        targets (printed); linked to ``model.net.output_units`` by the CLI."""
        if self.hparams.target_units is not None:
            return self.hparams.target_units
        mode = choose_units(p.target for p in self.train_pairs)
        print(f"data.target_units: {mode} (chosen from the training targets)", flush=True)
        return mode

    @property
    def output_vocab(self) -> list[str]:
        """Every unit of the training targets, sorted: what the model can generate (it can
        also copy any input grapheme); linked to ``model.net.output_vocab`` by the CLI."""
        split = OutputUnits(self.output_units).split
        return sorted({unit for p in self.train_pairs for unit in split(p.target)})

    def train_dataloader(self) -> DataLoader:
        if self.hparams.swap_commutative > 0.0:
            dataset = CommutativeSwapDataset(
                self.train_pairs,
                self.hparams.swap_commutative,
                exclude={p.input for p in self.val_pairs} | {p.input for p in self.test_pairs},
            )
        else:
            dataset = PairDataset(self.train_pairs)
        if self.trainer is not None and self.trainer.world_size > 1:
            # Lightning shards a shuffled loader with its DistributedSampler.
            return DataLoader(
                dataset,
                batch_size=self.hparams.batch_size,
                shuffle=True,
                collate_fn=collate_pairs,
                num_workers=self.hparams.num_workers,
            )
        return DataLoader(
            dataset,
            batch_sampler=self.training_order.batches_for(len(dataset), self.hparams.batch_size),
            collate_fn=collate_pairs,
            num_workers=self.hparams.num_workers,
        )

    @cached_property
    def test_pairs(self) -> list[TextPair]:
        """The held-out pairs of ``test_path`` (none without it)."""
        return [] if self.hparams.test_path is None else self._read(self.hparams.test_path)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(
            PairDataset(self.test_pairs),
            batch_size=self.hparams.batch_size,
            shuffle=False,
            collate_fn=collate_pairs,
            num_workers=self.hparams.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            PairDataset(self.val_pairs),
            batch_size=self.hparams.batch_size,
            shuffle=False,
            collate_fn=collate_pairs,
            num_workers=self.hparams.num_workers,
        )

    def state_dict(self) -> dict:
        """The training order and random state at this checkpoint (:mod:`.training_order`)."""
        return self.training_order.state_dict(self.trainer)

    def load_state_dict(self, state_dict: dict) -> None:
        self.training_order.load_state_dict(state_dict)

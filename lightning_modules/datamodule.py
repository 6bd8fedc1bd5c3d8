"""GraphemeDataModule: generated curricula, pair files (JSONL, TSV) or a folder of levels as
graph pairs."""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from lightning_modules.input_blind import input_blind_nll
from lightning_modules.training_order import TrainingOrder
from pyg_grapheme.data import PairDataset, TextPair, collate_pairs, generate, read_pair_file
from pyg_grapheme.data.commutative_swap import CommutativeSwapDataset
from pyg_grapheme.data.gsm8k import check_gsm8k_target
from pyg_grapheme.data.level_folder import hold_out, level_files, parse_levels
from pyg_grapheme.input_units import INPUT_UNIT_MODES, choose_input_units, input_splitter
from pyg_grapheme.models.output_units import UNIT_MODES, OutputUnits, choose_units

__all__ = ["GraphemeDataModule"]


class GraphemeDataModule(pl.LightningDataModule):
    """Training and validation pairs, from a generator or from pair files.

    With ``train_path`` set, pairs are read from that file: a JSONL file (pairs,
    kindergarten, math or gsm8k format, auto-detected), or tab-separated ``input<TAB>target``
    lines when its name ends in ``.tsv`` (:func:`~pyg_grapheme.data.read_pair_file`) and validation from ``val_path`` (required then).
    Otherwise ``task`` is generated: ``n_train`` training pairs from
    ``alphabet`` with lengths ``min_len..max_len`` and ``n_val`` validation
    pairs whose inputs never occur in training, from ``val_alphabet`` (default:
    the training alphabet) with lengths up to ``val_max_len`` (default:
    ``max_len``), so validation measures generalisation, not recall.

    **Levels.** With ``levels`` and ``levels_dir`` set, the pairs come from a folder of
    curriculum levels (:mod:`pyg_grapheme.data.level_folder`: ``level_N_train.jsonl``
    and ``level_N_val.jsonl``, or ``level_N.jsonl`` with ``val_share`` held out), and
    :attr:`train_pairs` and :attr:`val_pairs` are those of the :attr:`current_level`,
    the first one until :meth:`set_level` moves on (the fit command's
    :class:`~lightning_modules.level_schedule.LevelSchedule` does, and reloads the
    loaders). Every level's files are read on first use, so a bad line of the last
    level stops the run before the first level trains. :attr:`output_vocab` then grows
    level by level, each level's new units appended after the earlier ones, and the
    current level is saved in checkpoints (:meth:`state_dict`), so a run resumes on it.

    Args:
        task: a generated task (:data:`~pyg_grapheme.data.TASKS`), or ``None`` when the
            data comes from files only (then ``train_path`` is required).
        train_path, val_path: JSONL or ``.tsv`` files (override ``task``).
        test_path: a JSONL or ``.tsv`` file of held-out pairs, never trained or validated on: its
            inputs are kept out of every training augmentation (an operand swap never
            writes a held-out problem), and ``trainer.test`` scores it.
        levels: the levels to train in turn, ``"1..7"``, ``"1,3,5"`` or a list of ints
            (:func:`~pyg_grapheme.data.level_folder.parse_levels`); needs ``levels_dir``
            and overrides ``task``.
        levels_dir: the folder of level files.
        val_share: share of a ``level_N.jsonl`` held out for validation, by input
            (:func:`~pyg_grapheme.data.level_folder.hold_out`, seeded with ``seed``).
        skip_bad_lines: skip malformed lines of a pair file (and report how many) instead of failing.
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
        input_units: what one input node holds, ``"graphemes"`` (grapheme clusters) or
            ``"codepoints"`` (:mod:`pyg_grapheme.input_units`); ``None`` chooses from the
            training inputs (:func:`~pyg_grapheme.input_units.choose_input_units`: code
            points only where clusters are too sparse to learn, as Khmer's) and prints the
            choice. Linked to ``model.net.input_units`` by the CLI.
        batch_by_length: training batches of pairs of like lengths (input graphemes, then
            target units), in a new random order every epoch
            (:class:`~lightning_modules.training_order.ResumableBatches`): less padding,
            so cheaper steps. Off by default: the figures of the string tasks and the math
            levels were measured with batches drawn at random.
    """

    def __init__(
        self,
        task: str | None = "dedupe",
        train_path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        levels: list[int] | str | None = None,
        levels_dir: str | None = None,
        val_share: float = 0.1,
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
        input_units: str | None = None,
        batch_by_length: bool = False,
    ) -> None:
        super().__init__()
        check_gsm8k_target(gsm8k_target)
        self.levels = [] if levels is None else parse_levels(levels)
        if (levels is None) != (levels_dir is None):
            raise ValueError("data.levels and data.levels_dir go together: give both or neither")
        if self.levels and train_path is not None:
            raise ValueError("give data.levels (a folder of levels) or data.train_path, not both")
        if not 0.0 < val_share < 1.0:
            raise ValueError(f"data.val_share must be in (0, 1), got {val_share}")
        # Missing files fail here, before a model is built; reading waits for first use.
        self.level_paths = {level: level_files(levels_dir, level) for level in self.levels}
        self.current_level = self.levels[0] if self.levels else None
        if train_path is not None and val_path is None:
            raise ValueError("data.val_path is required when data.train_path is given")
        if train_path is None and task is None and not self.levels:
            raise ValueError(
                "no training data: give --data.train_path and --data.val_path (JSONL or .tsv files), "
                "--data.levels and --data.levels_dir (a folder of levels), or --data.task to "
                "generate a curriculum task"
            )
        if target_units is not None and target_units not in UNIT_MODES:
            raise ValueError(
                f"data.target_units must be one of {UNIT_MODES} or null, got {target_units!r}"
            )
        if input_units is not None and input_units not in INPUT_UNIT_MODES:
            raise ValueError(
                f"data.input_units must be one of {INPUT_UNIT_MODES} or null, got {input_units!r}"
            )
        self.save_hyperparameters()
        # The shuffle and the random state, saved with every checkpoint for an exact resume.
        self.training_order = TrainingOrder()

    def setup(self, stage: str) -> None:
        """Read (and so check) the training and validation pairs before the first step: a bad
        validation file stops the run before it trains, not when validation first runs."""
        self.train_pairs, self.val_pairs  # noqa: B018

    # ---------------------------------------------------------------- levels
    def set_level(self, level: int) -> None:
        """Make ``level`` (one of :attr:`levels`) the current one; the loaders made after
        this serve its pairs."""
        if level not in self.levels:
            raise ValueError(f"level {level} is not one of data.levels {self.levels}")
        self.current_level = level

    @property
    def next_level(self) -> int | None:
        """The level after the current one, ``None`` at the last (or without levels)."""
        if not self.levels:
            return None
        position = self.levels.index(self.current_level)
        return self.levels[position + 1] if position + 1 < len(self.levels) else None

    @cached_property
    def level_pairs(self) -> dict[int, tuple[list[TextPair], list[TextPair]]]:
        """``{level: (train, val)}`` of every level, read once."""
        pairs = {}
        for level, files in self.level_paths.items():
            if files.whole is not None:
                pairs[level] = hold_out(
                    self._read(str(files.whole)), self.hparams.val_share, self.hparams.seed,
                    where=str(files.whole),
                )  # fmt: skip
            else:
                pairs[level] = (self._read(str(files.train)), self._read(str(files.val)))
        return pairs

    def state_dict(self) -> dict[str, Any]:
        """The training order and random state at this checkpoint (:mod:`.training_order`)
        and, with levels, the current level: a run resumes on it, mid-epoch."""
        state = self.training_order.state_dict(self.trainer)
        if self.levels:
            state["level"] = self.current_level
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume on the checkpoint's level (first: it sizes the epoch), then its order."""
        state = dict(state_dict)
        level = state.pop("level", None)
        if level is None and self.levels:
            raise ValueError(
                "the checkpoint holds no curriculum level (it was not trained on "
                "data.levels); start from its weights with --model.init_from instead"
            )
        if level is not None:
            if level not in self.levels:
                raise ValueError(
                    f"the checkpoint is at level {level}, which data.levels {self.levels} "
                    "does not include"
                )
            self.set_level(level)
        self.training_order.load_state_dict(state)

    # ---------------------------------------------------------------- pairs
    @property
    def train_pairs(self) -> list[TextPair]:
        """The training pairs (of the current level, with levels)."""
        if self.levels:
            return self.level_pairs[self.current_level][0]
        return self._train_pairs

    @property
    def val_pairs(self) -> list[TextPair]:
        """The validation pairs (of the current level, with levels)."""
        if self.levels:
            return self.level_pairs[self.current_level][1]
        return self._val_pairs

    def input_blind_nll(self) -> float | None:
        """The validation targets' likelihood under the best model of the training targets
        alone, nats per unit and end (:func:`~lightning_modules.input_blind.input_blind_nll`):
        what a model that does not read its input can reach. Computed once per training
        set (a new level computes it again); :obj:`None` without validation pairs."""
        train, val = self.train_pairs, self.val_pairs
        key = (id(train), id(val))
        cached = getattr(self, "_input_blind", None)
        if cached is None or cached[0] != key:
            split = OutputUnits(self.output_units).split
            value = input_blind_nll(
                (split(p.target) for p in train), (split(p.target) for p in val)
            )
            cached = self._input_blind = (key, None if math.isnan(value) else value)
        return cached[1]

    # The pairs are built once, on first use, identically on every process.
    @cached_property
    def _train_pairs(self) -> list[TextPair]:
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
    def _val_pairs(self) -> list[TextPair]:
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
        result = read_pair_file(path, skip_bad_lines=h.skip_bad_lines, gsm8k_target=h.gsm8k_target)
        return list(result)

    @property
    def _unit_choice_pairs(self) -> list[TextPair]:
        """The training pairs the unit choices read: with levels every level's, so that a
        run keeps one mode for its whole length."""
        return [p for train, _ in self.level_pairs.values() for p in train] or self.train_pairs

    @cached_property
    def output_units(self) -> str:
        """``data.target_units``, or the mode :func:`choose_units` reads off the training
        targets (printed); linked to ``model.net.output_units`` by the CLI."""
        if self.hparams.target_units is not None:
            return self.hparams.target_units
        mode = choose_units(p.target for p in self._unit_choice_pairs)
        print(f"data.target_units: {mode} (chosen from the training targets)", flush=True)
        return mode

    @cached_property
    def input_units(self) -> str:
        """``data.input_units``, or the mode :func:`choose_input_units` reads off the training
        inputs (printed); linked to ``model.net.input_units`` by the CLI."""
        if self.hparams.input_units is not None:
            return self.hparams.input_units
        mode = choose_input_units(p.input for p in self._unit_choice_pairs)
        print(f"data.input_units: {mode} (chosen from the training inputs)", flush=True)
        return mode

    @property
    def output_vocab(self) -> list[str]:
        """Every unit of the training targets, sorted: what the model can generate (it can
        also copy any input grapheme); linked to ``model.net.output_vocab`` by the CLI.

        With levels: the units of the levels up to the current one, each level's new units
        sorted and appended after those of the levels before it, so a unit keeps its id
        as the vocabulary grows."""
        split = OutputUnits(self.output_units).split
        if not self.levels:
            return sorted({unit for p in self.train_pairs for unit in split(p.target)})
        vocab: list[str] = []
        known: set[str] = set()
        for level in self.levels[: self.levels.index(self.current_level) + 1]:
            units = {unit for p in self.level_pairs[level][0] for unit in split(p.target)}
            vocab.extend(sorted(units - known))
            known |= units
        return vocab

    def train_dataloader(self) -> DataLoader:
        if self.hparams.swap_commutative > 0.0:
            dataset = CommutativeSwapDataset(
                self.train_pairs,
                self.hparams.swap_commutative,
                exclude={p.input for p in self.val_pairs} | {p.input for p in self.test_pairs},
                input_units=self.input_units,
            )
        else:
            dataset = PairDataset(self.train_pairs, self.input_units)
        if self.trainer is not None and self.trainer.world_size > 1:
            # Lightning shards a shuffled loader with its DistributedSampler.
            return DataLoader(
                dataset,
                batch_size=self.hparams.batch_size,
                shuffle=True,
                collate_fn=collate_pairs,
                num_workers=self.hparams.num_workers,
            )
        lengths = None
        if self.hparams.batch_by_length:
            split = OutputUnits(self.output_units).split
            read = input_splitter(self.input_units)
            lengths = [(len(read(p.input)), len(split(p.target))) for p in self.train_pairs]
        return DataLoader(
            dataset,
            batch_sampler=self.training_order.batches_for(
                len(dataset), self.hparams.batch_size, lengths
            ),
            collate_fn=collate_pairs,
            num_workers=self.hparams.num_workers,
        )

    @cached_property
    def test_pairs(self) -> list[TextPair]:
        """The held-out pairs of ``test_path`` (none without it)."""
        return [] if self.hparams.test_path is None else self._read(self.hparams.test_path)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(
            PairDataset(self.test_pairs, self.input_units),
            batch_size=self.hparams.batch_size,
            shuffle=False,
            collate_fn=collate_pairs,
            num_workers=self.hparams.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            PairDataset(self.val_pairs, self.input_units),
            batch_size=self.hparams.batch_size,
            shuffle=False,
            collate_fn=collate_pairs,
            num_workers=self.hparams.num_workers,
        )

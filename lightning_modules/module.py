"""GraphTransformModule: the LightningModule that trains a GraphTransformNet."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch_geometric.data import Batch

from lightning_modules.checkpoint_io import check_resume
from lightning_modules.component_config import build_component, component_config
from lightning_modules.cpu_budget import CpuTimeBudget
from lightning_modules.optimizer_growth import grow_optimizer
from lightning_modules.paced_schedule import PacedOneCycleLR
from lightning_modules.weights_from import checkpoint_vocabulary, load_matching_weights
from pyg_grapheme.data import TextPair
from pyg_grapheme.metrics import CharErrorRate, ExactMatch, UnitErrorRate
from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.feature_augmentation import randomize_graphemes
from pyg_grapheme.models.objective import TransformObjective
from pyg_grapheme.models.output_units import OutputUnits
from pyg_grapheme.models.unit_targets import UnitTargets
from pyg_grapheme.text import segment

__all__ = ["GraphTransformModule", "check_producible", "unwritable_note"]

LR_SCHEDULES = ("constant", "onecycle")


class GraphTransformModule(pl.LightningModule):
    """Holds the network, the objective and the train/validation steps.

    The network and the objective are components: LightningCLI builds them from
    ``model.net`` and ``model.objective`` (``class_path`` + ``init_args``), so
    each of their options is spelled once, in its own class. The module saves
    their configurations with its hyper-parameters, and ``load_from_checkpoint``
    rebuilds them. ``net.output_vocab`` and ``net.output_units`` are linked from the
    DataModule.

    Args:
        net: the network (:class:`~pyg_grapheme.models.GraphTransformNet`).
        objective: the training objective
            (:class:`~pyg_grapheme.models.objective.TransformObjective`, which holds the
            :class:`~pyg_grapheme.loss.StructuralLoss`); its defaults when ``None``.
        augment: probability that a grapheme of a training pair gets redrawn features
            (:func:`~pyg_grapheme.models.feature_augmentation.randomize_graphemes`), for
            pairs whose target the input can write by copying (every unit of the target is
            whitespace or one of the pair's input graphemes): such a model learns to copy
            what it has never seen, in any script. Other pairs (letters to phones, digits
            to numbers) keep their features, which their answers depend on.
        lr: AdamW learning rate (the peak one with ``lr_schedule="onecycle"``).
        weight_decay: AdamW weight decay.
        lr_schedule: ``"constant"`` or ``"onecycle"`` (``OneCycleLR``: warm-up over
            the first ``warmup`` fraction of the steps, then cosine decay to
            ``lr / 1e4``; the step count comes from the trainer, and a CPU budget that
            paces the schedule moves it ahead: see
            :class:`~lightning_modules.paced_schedule.PacedOneCycleLR`).
        warmup: warm-up fraction for ``"onecycle"``.
        beam: hypotheses kept per input when validation decodes (1: greedy).
        examples_to_keep: validation examples kept for the end-of-fit report.
        init_from: a checkpoint of another run to start the network from
            (:func:`~lightning_modules.weights_from.load_matching_weights`: tensors by
            name, the generation head unit by unit). Applied once, when the module is
            built, and not saved with its hyper-parameters: a checkpoint of this run holds
            the weights already, and loads without that file.
    """

    def __init__(
        self,
        net: GraphTransformNet,
        objective: TransformObjective | None = None,
        augment: float = 0.0,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        warmup: float = 0.15,
        beam: int = 1,
        examples_to_keep: int = 8,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        if not 0.0 <= augment <= 1.0:
            raise ValueError(f"augment must be a probability in [0, 1], got {augment}")
        if beam < 1:
            raise ValueError(f"beam must be >= 1, got {beam}")
        self.net = build_component(net, GraphTransformNet)
        self.objective = build_component(
            objective if objective is not None else TransformObjective(), TransformObjective
        )
        # Components are saved by their configuration, not pickled (load_from_checkpoint
        # rebuilds them), the same way whether the CLI or Python made this module.
        self.save_hyperparameters(ignore=["net", "objective", "init_from"])
        # LightningCLI adds an "_instantiator" entry, which would make load_from_checkpoint
        # rebuild through jsonargparse; our configs rebuild with build_component either way.
        plain = {k: v for k, v in self.hparams.items() if k != "_instantiator"}
        self._hparams = type(self._hparams)()
        self.save_hyperparameters(
            {
                **plain,
                "net": component_config(self.net),
                "objective": component_config(self.objective),
            }
        )
        self.val_exact_match = ExactMatch()
        self.val_cer = CharErrorRate()
        self.val_uer = UnitErrorRate(self.net.output_units)
        self.test_exact_match = ExactMatch()
        self.test_uer = UnitErrorRate(self.net.output_units)
        self.examples_to_keep = examples_to_keep
        self.val_examples: list[tuple[str, str, str]] = []
        self.init_from = init_from
        if init_from is not None:
            learnt = load_matching_weights(self.net, init_from)
            print(
                f"model.init_from: weights of {init_from} ({learnt} of "
                f"{len(self.net.output_vocab)} output units with learnt rows)",
                flush=True,
            )

    def extend_vocabulary(self, units: Sequence[str]) -> None:
        """Append ``units`` to the network's output vocabulary
        (:meth:`GraphTransformNet.extend_vocabulary`, learnt rows kept), record the grown
        vocabulary in the hyper-parameters (so its checkpoints rebuild the grown head), and
        move the trainer's optimizers to the new parameters
        (:func:`~lightning_modules.optimizer_growth.grow_optimizer`)."""
        units = list(units)
        if not units:
            return
        before = dict(self.net.named_parameters())
        self.net.extend_vocabulary(units)
        self.hparams["net"] = component_config(self.net)
        after = dict(self.net.named_parameters())
        trainer = self._trainer
        for optimizer in trainer.optimizers if trainer is not None else []:
            grow_optimizer(optimizer, before, after)

    def adopt_vocabulary(self, checkpoint: dict[str, Any]) -> None:
        """Grow the output vocabulary to the checkpoint's before its weights load: a
        curriculum run resumed on a later level was saved with the units of the levels
        it passed, and this module was built with those of the first."""
        saved = checkpoint_vocabulary(checkpoint, "the checkpoint")
        current = self.net.output_vocab
        if saved == current:
            return
        if saved[: len(current)] != current:
            raise ValueError(
                f"the checkpoint's output vocabulary ({len(saved)} units) does not extend this "
                f"model's ({len(current)} units, from the data): resume with the data it was "
                "trained on, or start from its weights with --model.init_from"
            )
        self.extend_vocabulary(saved[len(current) :])

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Adopt the checkpoint's output vocabulary (:meth:`adopt_vocabulary`), then refuse
        weights that do not fit, naming the options that differ (resuming ``fit`` with
        another configuration); :mod:`lightning_modules.checkpoint_io`."""
        self.adopt_vocabulary(checkpoint)
        check_resume(self, checkpoint)

    def on_fit_start(self) -> None:
        """Check once, before any step runs, that every training pair can be produced and
        that a merge warm-up has a training of known length to count its share in."""
        self._progress()  # raises here, not at the first step, where the length is unknown
        datamodule = getattr(self.trainer, "datamodule", None)
        pairs = getattr(datamodule, "train_pairs", None)
        if pairs is not None:
            check_producible(pairs, self.net.units, self.net.max_children)
        val_pairs = getattr(datamodule, "val_pairs", None)
        if val_pairs:
            note = unwritable_note(val_pairs, self.net.units, self.net.output_vocab)
            if note:
                print(f"note: validation: {note}", flush=True)

    # ---------------------------------------------------------------- steps
    def _targets(self, inputs: Batch, targets: Batch) -> UnitTargets:
        return self.net.targets(inputs, list(targets.text))

    def _augmented(self, inputs: Batch, sup: UnitTargets) -> tuple[Batch, UnitTargets]:
        """Redraw grapheme features of the pairs the input can write by copying (``augment``),
        one draw for inputs and target units so a redrawn grapheme looks the same in both."""
        copyable = torch.tensor(
            [
                all(u.isspace() or u in set(source) for u in units)
                for source, units in zip(inputs.clusters, sup.units)
            ],
            dtype=torch.bool,
            device=inputs.x.device,
        )
        if not bool(copyable.any()):
            return inputs, sup
        real_unit = sup.unit_class >= 0
        rows = torch.cat([inputs.x, sup.unit_rows[real_unit]])
        classes = torch.cat([sup.member_class, sup.unit_class[real_unit]])
        drawn = randomize_graphemes(rows, classes, self.hparams.augment)
        unit_graph = real_unit.nonzero()[:, 0]
        node_ok = copyable.index_select(0, inputs.batch)
        unit_ok = copyable.index_select(0, unit_graph)
        inputs = inputs.clone()
        num_nodes = inputs.num_nodes
        inputs.x = torch.where(node_ok.unsqueeze(1), drawn[:num_nodes], inputs.x)
        unit_rows = sup.unit_rows.clone()
        unit_rows[real_unit] = torch.where(
            unit_ok.unsqueeze(1), drawn[num_nodes:], sup.unit_rows[real_unit]
        )
        return inputs, UnitTargets(
            sup.space, sup.member_class, sup.unit_class, unit_rows, sup.num_units, sup.units
        )

    def _shared_step(
        self, batch: tuple[Batch, Batch], augment: float = 0.0, progress: float = 1.0
    ) -> dict[str, Tensor]:
        """Loss terms of a batch (the target is read whole: teacher forcing); ``progress``
        is the share of training done (the objective's merge warm-up reads it)."""
        inputs, targets = batch
        sup = self._targets(inputs, targets)
        if augment > 0.0:
            inputs, sup = self._augmented(inputs, sup)
        out = self.net(inputs, sup, with_classes=bool(self.objective.structural_weight))
        terms = self.objective(out, sup, progress)
        terms["merge_ratio"] = torch.tensor(
            out.pooled_batch.numel() / max(inputs.num_nodes, 1), device=self.device
        )
        terms["threshold"] = self.net.pool.threshold.detach()
        return terms

    def training_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> Tensor:
        terms = self._shared_step(batch, augment=self.hparams.augment, progress=self._progress())
        size = batch[0].num_graphs
        for name, value in terms.items():
            self.log(
                f"train_{name}",
                value,
                on_step=True,
                on_epoch=True,
                batch_size=size,
                prog_bar=name == "loss",
            )
        return terms["loss"]

    def _progress(self) -> float:
        """Share of the training done (0 to 1), as the one-cycle schedule counts it: the
        share of the steps, or of a pacing CPU budget where that is further along; 1 where
        nothing reads it (no merge warm-up).

        Raises:
            ValueError: a merge warm-up in a run of unknown length (``max_epochs -1``, the
                curriculum's), whose share cannot be known.
        """
        if not getattr(self.objective, "merge_warmup", 0.0):
            return 1.0
        total = float(self.trainer.estimated_stepping_batches)
        if not math.isfinite(total):
            raise ValueError(
                "model.objective.init_args.merge_warmup needs a training of known length "
                "(trainer.max_epochs or max_steps); this run has none (a curriculum's "
                "length is set by its levels): set merge_warmup 0"
            )
        steps = min(self.trainer.global_step / max(total, 1.0), 1.0)
        budget = self._budget_share()
        return steps if budget is None else max(steps, budget)

    def _budget_share(self) -> float | None:
        """Share of the CPU budget used (``--cpu_budget``, when it paces the schedule), which
        the learning-rate schedule and the merge warm-up follow where it is ahead of the
        steps; :obj:`None` without one."""
        budgets = [c for c in self.trainer.callbacks if isinstance(c, CpuTimeBudget)]
        return budgets[0].share_used() if budgets else None

    def validation_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> None:
        inputs, targets = batch
        terms = self._shared_step(batch)
        predictions = self.net.transduce(inputs, beam=self.hparams.beam).outputs
        wanted = [self.net.units.canonical(t) for t in targets.text]
        size = inputs.num_graphs
        for name, value in terms.items():
            self.log(f"val_{name}", value, on_epoch=True, batch_size=size, sync_dist=True)
        self.val_exact_match.update(predictions, wanted)
        self.val_cer.update(predictions, wanted)
        self.val_uer.update(predictions, wanted)
        self.log(
            "val_exact_match", self.val_exact_match, on_epoch=True, batch_size=size, prog_bar=True
        )
        self.log("val_cer", self.val_cer, on_epoch=True, batch_size=size, prog_bar=True)
        self.log("val_uer", self.val_uer, on_epoch=True, batch_size=size)
        if batch_idx == 0:
            self.val_examples = list(zip(inputs.text, predictions, wanted))[: self.examples_to_keep]

    def test_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> None:
        """Held-out scoring (``trainer.test``): exact match and unit error rate of the
        outputs decoded with ``beam``."""
        inputs, targets = batch
        predictions = self.net.transduce(inputs, beam=self.hparams.beam).outputs
        wanted = [self.net.units.canonical(t) for t in targets.text]
        self.test_exact_match.update(predictions, wanted)
        self.test_uer.update(predictions, wanted)
        size = inputs.num_graphs
        self.log("test_exact_match", self.test_exact_match, on_epoch=True, batch_size=size)
        self.log("test_uer", self.test_uer, on_epoch=True, batch_size=size)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.lr_schedule == "constant":
            return optimizer
        scheduler = PacedOneCycleLR(
            optimizer,
            pace=self._budget_share,
            max_lr=self.hparams.lr,
            total_steps=max(int(self.trainer.estimated_stepping_batches), 1),
            pct_start=self.hparams.warmup,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def transform_text(self, texts: Sequence[str], beam: int = 1) -> list[str]:
        """Shortcut to :meth:`GraphTransformNet.transform_text`."""
        return self.net.transform_text(texts, beam=beam)


def check_producible(pairs: Sequence[TextPair], units: OutputUnits, max_children: int) -> None:
    """Raise a ``ValueError`` naming the first pair the network cannot produce: a non-empty
    target from an empty input, or a target of more than ``max_children`` units per input
    grapheme (no monotonic alignment writes it)."""
    for pair in pairs:
        source, target = segment(pair.input), units.split(pair.target)
        where = pair.meta.get("source", repr(pair.input))
        if not source and target:
            raise ValueError(
                f"{where}: target {pair.target!r} cannot be produced from an empty input "
                "(the model grows output units from input nodes)"
            )
        if len(target) > max_children * len(source):
            raise ValueError(
                f"{where}: the target has {len(target)} {units.mode} for {len(source)} input "
                f"graphemes, more than model.net.growth.max_children={max_children} per "
                f"grapheme; raise --model.net.growth.init_args.max_children to at least "
                f"{-(-len(target) // len(source))}"
            )


def unwritable_note(pairs: Sequence[TextPair], units: OutputUnits, vocab: Sequence[str]) -> str:
    """A one-line account of the pairs whose target holds a unit the network can never
    write, or ``""`` when there are none.

    The network writes a unit of its output vocabulary (the training targets' units) or
    copies one of the pair's own input graphemes; any other unit (a phone that only the
    development set uses, or a file of another task) makes the pair impossible to match
    exactly, so its exact match is 0 whatever the training. Real data has a few such pairs;
    many of them mean the files do not belong together."""
    known = set(vocab)
    missing: dict[str, int] = {}
    first = ""
    count = 0
    for pair in pairs:
        copyable = set(segment(pair.input))
        new = [u for u in units.split(pair.target) if u not in known and u not in copyable]
        if new:
            count += 1
            first = first or pair.meta.get("source", repr(pair.input))
            for unit in new:
                missing[unit] = missing.get(unit, 0) + 1
    if not count:
        return ""
    shown = sorted(missing, key=lambda u: (-missing[u], u))
    listed = ", ".join(repr(u) for u in shown[:8]) + (", ..." if len(shown) > 8 else "")
    return (
        f"{count} of {len(pairs)} targets hold {units.mode} that no training target holds "
        f"and their input cannot copy ({listed}; first at {first}): those pairs can never "
        f"be exact, so exact match is at most {(len(pairs) - count) / len(pairs):.3f}"
    )

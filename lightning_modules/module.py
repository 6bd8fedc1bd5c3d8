"""GraphTransformModule: the LightningModule that trains a GraphTransformNet."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor
from torch_geometric.data import Batch

from lightning_modules.checkpoint_io import check_resume
from lightning_modules.component_config import build_component, component_config
from lightning_modules.cpu_budget import CpuTimeBudget
from lightning_modules.input_blind import BLIND_SHARE, BLIND_VALIDATIONS, input_blind_members
from lightning_modules.optimizer_growth import grow_optimizer
from lightning_modules.paced_schedule import PacedOneCycleLR
from lightning_modules.weights_from import checkpoint_vocabulary, load_matching_weights
from pyg_grapheme.data import TextPair
from pyg_grapheme.input_units import input_splitter
from pyg_grapheme.metrics import CharErrorRate, ExactMatch, UnitErrorRate
from pyg_grapheme.models import GraphTransformNet, ensemble_transform_text, transducer_ensemble
from pyg_grapheme.models.feature_augmentation import randomize_graphemes
from pyg_grapheme.models.objective import TransformObjective
from pyg_grapheme.models.output_units import OutputUnits
from pyg_grapheme.models.unit_targets import UnitTargets

__all__ = ["GraphTransformModule", "check_producible", "member_votes", "unwritable_note"]

LR_SCHEDULES = ("constant", "onecycle")
MEMBER_READINGS = ("forward", "alternate")
"""``members`` all read as the first does, or every second one reads the other way."""


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
        members: networks trained side by side, each from its own random start, on the
            same batches, that decode together
            (:func:`~pyg_grapheme.models.transducer_ensemble`: each proposes its beam's
            outputs, the best mean log-likelihood wins) in validation, test and
            :meth:`transform_text`. :attr:`net` is the first; :attr:`nets` all of them.
            Each member's gradient is its own loss's, and each is clipped on its own, so a
            member trains as it would alone; a step costs ``members`` times as much.
        vote_ratio: with several members, which of them vote (propose and score outputs;
            :attr:`voting_nets`): those whose validation likelihood is at most
            ``vote_ratio`` times the best member's (:func:`member_votes`), decided at the
            start of each validation, before it decodes, and saved with the checkpoint, so
            test, ``predict`` and :meth:`transform_text` decode with the same members.
            A member that collapsed in training (its proposals can win the vote with a
            beam) is left out while it stays so; ``None``: every member always votes.
        train_left_out: whether a member left out of the vote keeps training. By default
            it does not: its forward and backward passes are skipped (its weights and
            optimizer state stay as they were, since it has no gradient) until a later
            validation lets it vote again, so the members that vote get its share of a
            CPU budget's steps. A collapsed member spent half of a two-member fit's
            budget (bench/results/g2p.md, Adyghe).
        member_reading: ``"forward"``: every member reads as :attr:`net` is configured;
            ``"alternate"``: every second member (the second, fourth, ...) reads and
            writes the other way (``GraphTransformNet(reading_order=...)``), so members
            that vote together err differently.
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
        members: int = 1,
        vote_ratio: float | None = 2.0,
        train_left_out: bool = False,
        member_reading: str = "forward",
    ) -> None:
        super().__init__()
        if not isinstance(members, int) or members < 1:
            raise ValueError(f"members must be an integer >= 1, got {members!r}")
        if vote_ratio is not None and not vote_ratio >= 1.0:
            raise ValueError(
                f"vote_ratio must be >= 1 (a member as good as the best always votes) or "
                f"null (every member votes), got {vote_ratio!r}"
            )
        if member_reading not in MEMBER_READINGS:
            raise ValueError(
                f"member_reading must be one of {MEMBER_READINGS}, got {member_reading!r}"
            )
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        if not 0.0 <= augment <= 1.0:
            raise ValueError(f"augment must be a probability in [0, 1], got {augment}")
        if beam < 1:
            raise ValueError(f"beam must be >= 1, got {beam}")
        self.net = build_component(net, GraphTransformNet)
        # Further members: the same configuration, each drawing its own initial weights
        # (with member_reading "alternate", every second one reading backward).
        self.more_nets = torch.nn.ModuleList(
            build_component(
                _reading(component_config(self.net), k, member_reading), GraphTransformNet
            )
            for k in range(1, members)
        )
        self.objective = build_component(
            objective if objective is not None else TransformObjective(), TransformObjective
        )
        # Which members have read their input at a validation, how long each has been
        # blind, and which were named so (check_input_blind); not checkpointed: a resumed
        # fit checks again.
        self._reads_input = [False] * members
        self._blind_streak = [0] * members  # validations in a row each has been blind
        self._warned_blind = [False] * members
        # Which members vote; not in the state dict (checkpoints of earlier versions hold
        # no such tensor) but in the checkpoint beside it (on_save_checkpoint).
        self.register_buffer(
            "member_votes", torch.ones(members, dtype=torch.bool), persistent=False
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
            for member in self.more_nets:
                load_matching_weights(member, init_from)
            learnt = load_matching_weights(self.net, init_from)
            print(
                f"model.init_from: weights of {init_from} ({learnt} of "
                f"{len(self.net.output_vocab)} output units with learnt rows)",
                flush=True,
            )

    @property
    def nets(self) -> list[GraphTransformNet]:
        """Every member network, :attr:`net` first."""
        return [self.net, *self.more_nets]

    @property
    def voting_nets(self) -> list[GraphTransformNet]:
        """The members that decode (``vote_ratio``): every member until a validation has
        left one out."""
        return [net for net, votes in zip(self.nets, self.member_votes.tolist()) if votes]

    def extend_vocabulary(self, units: Sequence[str]) -> None:
        """Append ``units`` to the network's output vocabulary
        (:meth:`GraphTransformNet.extend_vocabulary`, learnt rows kept), record the grown
        vocabulary in the hyper-parameters (so its checkpoints rebuild the grown head), and
        move the trainer's optimizers to the new parameters
        (:func:`~lightning_modules.optimizer_growth.grow_optimizer`)."""
        units = list(units)
        if not units:
            return
        before = dict(self.named_parameters())
        for member in self.nets:
            member.extend_vocabulary(units)
        self.hparams["net"] = component_config(self.net)
        after = dict(self.named_parameters())
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
        another configuration); :mod:`lightning_modules.checkpoint_io`. Restore which
        members vote (a checkpoint written before ``vote_ratio`` existed: all of them)."""
        self.adopt_vocabulary(checkpoint)
        check_resume(self, checkpoint)
        votes = checkpoint.get("member_votes")
        if votes is not None and len(votes) == len(self.nets):
            self.member_votes.copy_(torch.tensor(votes, dtype=torch.bool))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["member_votes"] = self.member_votes.tolist()

    def on_fit_start(self) -> None:
        """Check once, before any step runs, that every training pair can be produced and
        that a merge warm-up has a training of known length to count its share in."""
        self._progress()  # raises here, not at the first step, where the length is unknown
        datamodule = getattr(self.trainer, "datamodule", None)
        pairs = getattr(datamodule, "train_pairs", None)
        if pairs is not None:
            check_producible(pairs, self.net.units, self.net.max_children, self.net.input_units)
        val_pairs = getattr(datamodule, "val_pairs", None)
        if val_pairs:
            note = unwritable_note(
                val_pairs, self.net.units, self.net.output_vocab, self.net.input_units
            )
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
        # Which nodes now look like another grapheme: a spelling reader must not tell.
        inputs.redrawn = node_ok & (drawn[:num_nodes] != inputs.x).any(1)
        inputs.x = torch.where(node_ok.unsqueeze(1), drawn[:num_nodes], inputs.x)
        unit_rows = sup.unit_rows.clone()
        unit_rows[real_unit] = torch.where(
            unit_ok.unsqueeze(1), drawn[num_nodes:], sup.unit_rows[real_unit]
        )
        return inputs, UnitTargets(
            sup.space, sup.member_class, sup.unit_class, unit_rows, sup.num_units, sup.units
        )

    @property
    def training_members(self) -> list[int]:
        """Indices of the members a training step runs: every member, or with
        ``train_left_out`` false only those that vote (:attr:`voting_nets`)."""
        if self.hparams.get("train_left_out", True):
            return list(range(len(self.nets)))
        return [k for k, votes in enumerate(self.member_votes.tolist()) if votes]

    def _shared_step(
        self,
        batch: tuple[Batch, Batch],
        augment: float = 0.0,
        progress: float = 1.0,
        members: Sequence[int] | None = None,
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Loss terms of a batch (the target is read whole: teacher forcing), each the
        mean over the ``members`` run (indices; every member by default), with each
        one's own loss (``loss_member{k}``) where there are several, and the sum of their
        losses, which training minimises (so each member's gradient is its own loss's);
        ``progress`` is the share of training done (the objective's merge warm-up reads
        it)."""
        inputs, targets = batch
        sup = self._targets(inputs, targets)
        if augment > 0.0:
            inputs, sup = self._augmented(inputs, sup)
        nets = self.nets
        indices = list(range(len(nets))) if members is None else list(members)
        per_member = []
        for k in indices:
            member = nets[k]
            out = member(inputs, sup, with_classes=bool(self.objective.structural_weight))
            terms = self.objective(out, sup, progress)
            terms["merge_ratio"] = torch.tensor(
                out.pooled_batch.numel() / max(inputs.num_nodes, 1), device=self.device
            )
            terms["threshold"] = member.pool.threshold.detach()
            per_member.append(terms)
        if len(nets) == 1:
            return per_member[0], per_member[0]["loss"]
        mean = {k: torch.stack([t[k] for t in per_member]).mean() for k in per_member[0]}
        # Each member's own loss as well (logged as train_/val_loss_member{k}): a member
        # that stopped learning hides in the mean, and its beam proposals can still win
        # the vote (bench/results/g2p.md, the learning-rate trial).
        for k, terms in zip(indices, per_member):
            mean[f"loss_member{k}"] = terms["loss"].detach()
        return mean, torch.stack([t["loss"] for t in per_member]).sum()

    def training_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> Tensor:
        terms, total = self._shared_step(
            batch,
            augment=self.hparams.augment,
            progress=self._progress(),
            members=self.training_members,
        )
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
        return total

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
        terms, _ = self._shared_step(batch)
        predictions = self._decode(inputs)
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

    def _decode(self, inputs: Batch) -> list[str]:
        """The outputs of a batch with ``beam``: the network's, or the voting members'
        together."""
        voting = self.voting_nets
        if len(voting) == 1:
            return voting[0].transduce(inputs, beam=self.hparams.beam).outputs
        return transducer_ensemble(voting, list(inputs.text), self.hparams.beam)

    def on_validation_epoch_start(self) -> None:
        """From each member's likelihood of the validation targets (:meth:`validation_nll`;
        not in the sanity check, whose model is untrained): say which members have not
        learnt to read their input (:meth:`check_input_blind`), and, with several members
        and a ``vote_ratio``, decide which members vote in this validation's decoding."""
        if self.trainer.sanity_checking:
            return
        ratio = self.hparams.get("vote_ratio")
        voting = bool(self.more_nets) and ratio is not None
        reference = self._input_blind_reference()
        if not voting and reference is None:
            return
        nll = self.validation_nll()
        if reference is not None:
            self.check_input_blind(nll, reference)
        if not voting:
            return
        votes = member_votes(nll, ratio)
        trains = self.hparams.get("train_left_out", True)
        for k, (before, now) in enumerate(zip(self.member_votes.tolist(), votes.tolist())):
            if before != now:
                if trains:
                    change = "votes again" if now else "left out of the vote"
                else:
                    change = (
                        "votes and trains again"
                        if now
                        else "left out of the vote, and stops training while it is out"
                    )
                rank_zero_info(
                    f"validation: member {k} {change}: its likelihood {float(nll[k]):.3f} "
                    f"nats a unit, the best member's {float(nll.min()):.3f} "
                    f"(model.vote_ratio {ratio})"
                )
        self.member_votes.copy_(votes.to(self.member_votes.device))

    def _input_blind_reference(self) -> float | None:
        """The input-blind likelihood of the validation targets, from the data module's
        ``input_blind_nll()`` (:mod:`lightning_modules.input_blind`); :obj:`None` once
        every member has shown it reads its input, or without such a data module."""
        if all(self._reads_input):
            return None
        datamodule = getattr(self.trainer, "datamodule", None)
        reference = getattr(datamodule, "input_blind_nll", None)
        value = reference() if callable(reference) else None
        return value if value is not None and math.isfinite(value) else None

    def check_input_blind(self, nll: Tensor, reference: float) -> list[bool]:
        """Warns where a member's validation likelihood ``nll`` (``[members]``) has been above
        :data:`~lightning_modules.input_blind.BLIND_SHARE` of the input-blind ``reference``
        (the best model of the training targets alone,
        :func:`~lightning_modules.input_blind.input_blind_nll`) at
        :data:`~lightning_modules.input_blind.BLIND_VALIDATIONS` validations in a row: it
        has learnt little of its input. A slow member can be there at the first validation
        (Korean and Hindi members at peak rate 0.003 with a warm-up of 0.25), a collapsed
        one stays. Each member is named once while blind, and once when it reads its
        input; after every member has read it, the check stops. Returns which are blind
        at this validation."""
        blind = input_blind_members(nll, reference)
        for k, is_blind in enumerate(blind):
            self._blind_streak[k] = self._blind_streak[k] + 1 if is_blind else 0
        stuck = [streak >= BLIND_VALIDATIONS for streak in self._blind_streak]
        named = [f"{float(value):.3f}" for value in nll.tolist()]
        bound = (
            f"{BLIND_SHARE:g} of the {reference:.3f} a model of the training targets alone reaches"
        )
        when = f"at {BLIND_VALIDATIONS} validations in a row"
        remedy = (
            "a lower --model.lr or a longer --model.warmup usually lets a member leave this "
            "plateau (bench/results/g2p.md)"
        )
        new = [k for k, is_stuck in enumerate(stuck) if is_stuck and not self._warned_blind[k]]
        if new and all(stuck):
            who = "the model has" if len(stuck) == 1 else "every member has"
            rank_zero_warn(
                f"validation: {who} learnt little of its input {when}: likelihood "
                f"{', '.join(named)} nats a unit, above {bound}, so the outputs hardly "
                f"depend on the input; {remedy}"
            )
        else:
            for k in new:
                rank_zero_warn(
                    f"validation: member {k} has learnt little of its input {when}: its "
                    f"likelihood {named[k]} nats a unit is above {bound}; {remedy}"
                )
        for k, is_blind in enumerate(blind):
            if k in new:
                self._warned_blind[k] = True
            elif not is_blind and self._warned_blind[k]:
                rank_zero_info(
                    f"validation: member {k} now reads its input ({named[k]} nats a unit)"
                )
                self._warned_blind[k] = False
            self._reads_input[k] = self._reads_input[k] or not is_blind
        return blind

    def validation_nll(self) -> Tensor:
        """Each member's negative log-likelihood of the validation targets, in nats per
        unit and end (the transducer term's normalisation), over the batches this
        validation runs, summed over the processes: shape ``[members]``, float64. The
        training's random state is left as it was (a DataLoader draws its base seed)."""
        loaders = self.trainer.val_dataloaders
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        limit = self.trainer.num_val_batches[0] if self.trainer.num_val_batches else 0
        totals = torch.zeros(len(self.nets), 2, dtype=torch.float64, device=self.device)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            for index, batch in enumerate(loader):
                if index >= limit:
                    break
                inputs, targets = (part.to(self.device) for part in batch)
                sup = self._targets(inputs, targets)
                for k, member in enumerate(self.nets):
                    nll, events = self.objective.transducer_totals(
                        member(inputs, sup, with_classes=False), sup
                    )
                    totals[k, 0] += nll.double()
                    totals[k, 1] += events
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        return totals[:, 0] / totals[:, 1].clamp(min=1.0)

    def test_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> None:
        """Held-out scoring (``trainer.test``): exact match and unit error rate of the
        outputs decoded with ``beam``."""
        inputs, targets = batch
        predictions = self._decode(inputs)
        wanted = [self.net.units.canonical(t) for t in targets.text]
        self.test_exact_match.update(predictions, wanted)
        self.test_uer.update(predictions, wanted)
        size = inputs.num_graphs
        self.log("test_exact_match", self.test_exact_match, on_epoch=True, batch_size=size)
        self.log("test_uer", self.test_uer, on_epoch=True, batch_size=size)

    def _warms_merges(self) -> bool:
        """Whether the objective warms its merge term up (then the merge parameters train
        in a parameter group of their own, :meth:`on_before_optimizer_step`)."""
        return bool(self.objective.merge_weight) and self.objective.merge_warmup > 0.0

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimizer's parameter groups: one per member (the module's parameters
        outside the members, if any, join the first), and with a merge warm-up each
        member's merge parameters (:meth:`GraphTransformNet.merge_parameters`) in a group
        of their own, flagged ``merge_decision``, after their member's."""
        groups: list[dict[str, Any]] = []
        placed: set[int] = set()
        for member in self.nets:
            merge = member.merge_parameters() if self._warms_merges() else []
            chosen = {id(p) for p in merge}
            groups.append({"params": [p for p in member.parameters() if id(p) not in chosen]})
            if merge:
                groups.append({"params": merge, "merge_decision": True})
            placed |= {id(p) for p in member.parameters()}
        groups[0]["params"] += [p for p in self.parameters() if id(p) not in placed]
        return groups

    def configure_optimizers(self) -> Any:
        groups = self.parameter_groups()
        parameters = [p for group in groups for p in group["params"]]
        optimizer = torch.optim.AdamW(
            groups if len(groups) > 1 else groups[0]["params"],
            lr=self.hparams.lr,
            weight_decay=self.hparams.weight_decay,
            # One compiled update over every parameter instead of a dozen tensor ops for
            # each (the default on a CPU, where torch does not choose the fused or foreach
            # kernels): a model of conf/g2p.yaml holds 242 parameter tensors, and their
            # updates were about 8% of a training step's CPU time (torch.profiler).
            fused=_fusable(parameters),
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

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Lightning's clipping (``trainer.gradient_clip_val``), applied to each parameter
        group on its own: each member's (:meth:`parameter_groups`), so that one member's
        large gradient does not shrink another's step, and the merge parameters' apart
        from the rest, so that a large gradient of the merge term (labels the merge
        parameters cannot follow yet) does not shrink the transducer's."""
        groups = optimizer.param_groups
        if len(groups) < 2 or not gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        for group in groups:
            if gradient_clip_algorithm in (None, "norm"):
                torch.nn.utils.clip_grad_norm_(group["params"], gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_value_(group["params"], gradient_clip_val)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Scale the learning rate of the merge parameters by the merge warm-up's factor.

        A warm-up that only weights the merge term is no warm-up for the parameters that
        nothing else moves (the pool's threshold, the merge features' heads): Adam divides
        each gradient by its own running size, so a term weighted 0.01 moves them as fast as
        one weighted 1. Their learning rate is the others' times the factor, so it rises
        with the warm-up. (The term's gradient through the encoder is not slowed this way;
        on G2P it could still set off a wave of merges, which is why ``conf/g2p.yaml``
        has no merge term: ``bench/results/g2p.md``.)"""
        factor = None
        rate = 0.0
        for group in optimizer.param_groups:
            if not group.get("merge_decision"):
                rate = group["lr"]  # its member's, set by the schedule
                continue
            if factor is None:
                factor = self.objective.merge_scale(self._progress())
            group["lr"] = rate * factor

    def transform_text(
        self, texts: Sequence[str], with_morph: bool = False, beam: int = 1
    ) -> list[str] | list[tuple[str, str]]:
        """:meth:`GraphTransformNet.transform_text` of the network, or of the members
        together (:func:`~pyg_grapheme.models.transducer_ensemble`), whose morph is the
        first member's best alignment of the output they chose
        (:meth:`GraphTransformNet.align`)."""
        voting = self.voting_nets
        if len(voting) == 1:
            return voting[0].transform_text(texts, with_morph=with_morph, beam=beam)
        return ensemble_transform_text(voting, texts, with_morph=with_morph, beam=beam)


def _reading(config: dict[str, Any], k: int, member_reading: str) -> dict[str, Any]:
    """The configuration of member ``k`` (the first is 0): ``config`` itself, or with
    ``member_reading`` "alternate" and ``k`` odd, the reversed reading order of ``config``'s."""
    if member_reading == "forward" or k % 2 == 0:
        return config
    first = config["init_args"].get("reading_order", "forward")
    other = "backward" if first == "forward" else "forward"
    return {**config, "init_args": {**config["init_args"], "reading_order": other}}


def member_votes(nll: Tensor, ratio: float, floor: float = 0.01) -> Tensor:
    r"""Which members vote, from their validation negative log-likelihoods ``nll``
    (``[members]``, nats a unit): member :math:`k` votes when

    .. math:: \ell_k \le r \cdot \max(\min_j \ell_j,\ \text{floor}),

    so the best member always votes. The floor keeps near-perfect members voting whose
    likelihoods differ by a large ratio of tiny numbers. On the G2P development sets
    (bench/results/g2p.md) two healthy members differ by at most 8%, and a collapsed
    one had 7 times its partner's. A member whose likelihood is not a number does not
    vote; where none is, every member votes (nothing tells them apart).

    Returns:
        A bool tensor ``[members]``.
    """
    finite = torch.isfinite(nll)
    if not bool(finite.any()):
        return torch.ones_like(nll, dtype=torch.bool)
    best = max(float(nll[finite].min()), floor)
    return finite & (nll <= ratio * best)


def _fusable(parameters: Sequence[torch.Tensor]) -> bool | None:
    """``True`` where torch's fused AdamW takes every parameter (floating point, on a CPU or
    a CUDA device), else ``None`` (torch's own choice)."""
    if parameters and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in parameters
    ):
        return True
    return None


def check_producible(
    pairs: Sequence[TextPair],
    units: OutputUnits,
    max_children: int,
    input_units: str = "graphemes",
) -> None:
    """Raise a ``ValueError`` naming the first pair the network cannot produce: a non-empty
    target from an empty input, or a target of more than ``max_children`` units per input
    unit (grapheme or code point, ``input_units``; no monotonic alignment writes it)."""
    split_input = input_splitter(input_units)
    for pair in pairs:
        source, target = split_input(pair.input), units.split(pair.target)
        where = pair.meta.get("source", repr(pair.input))
        if not source and target:
            raise ValueError(
                f"{where}: target {pair.target!r} cannot be produced from an empty input "
                "(the model grows output units from input nodes)"
            )
        if len(target) > max_children * len(source):
            raise ValueError(
                f"{where}: the target has {len(target)} {units.mode} for {len(source)} input "
                f"{'code points' if input_units == 'codepoints' else input_units}, more than model.net.growth.max_children={max_children} per "
                f"input unit; raise --model.net.growth.init_args.max_children to at least "
                f"{-(-len(target) // len(source))}"
            )


def unwritable_note(
    pairs: Sequence[TextPair],
    units: OutputUnits,
    vocab: Sequence[str],
    input_units: str = "graphemes",
) -> str:
    """A one-line account of the pairs whose target holds a unit the network can never
    write, or ``""`` when there are none.

    The network writes a unit of its output vocabulary (the training targets' units) or
    copies one of the pair's own input units (graphemes or code points, ``input_units``);
    any other unit (a phone that only the development set uses, or a file of another
    task) makes the pair impossible to match exactly, so its exact match is 0 whatever
    the training. Real data has a few such pairs;
    many of them mean the files do not belong together."""
    known = set(vocab)
    missing: dict[str, int] = {}
    first = ""
    count = 0
    split_input = input_splitter(input_units)
    for pair in pairs:
        copyable = set(split_input(pair.input))
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

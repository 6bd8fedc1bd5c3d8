"""GraphTransformModule: the LightningModule that trains a GraphTransformNet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch_geometric.data import Batch

from lightning_modules.checkpoint_io import check_resume
from lightning_modules.component_config import build_component, component_config
from pyg_grapheme.data import TextPair
from pyg_grapheme.metrics import CharErrorRate, ExactMatch
from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.edit_supervision import ALIGNMENTS, edit_targets
from pyg_grapheme.models.feature_augmentation import randomize_graphemes
from pyg_grapheme.models.objective import TransformObjective, build_supervision
from pyg_grapheme.models.text_transform import emit
from pyg_grapheme.text import segment

__all__ = ["GraphTransformModule"]

LR_SCHEDULES = ("constant", "onecycle")


class GraphTransformModule(pl.LightningModule):
    """Holds the network, the objective and the train/validation steps.

    The network and the objective are components: LightningCLI builds them from
    ``model.net`` and ``model.objective`` (``class_path`` + ``init_args``), so
    each of their options is spelled once, in its own class. The module saves
    their configurations with its hyper-parameters, and ``load_from_checkpoint``
    rebuilds them. ``net.output_vocab`` is linked from the DataModule.

    Args:
        net: the network (:class:`~pyg_grapheme.models.GraphTransformNet`).
        objective: the training objective
            (:class:`~pyg_grapheme.models.objective.TransformObjective`, which
            holds the :class:`~pyg_grapheme.loss.StructuralLoss`); its defaults
            when ``None``.
        alignment: input-to-target alignment of the supervision, ``"lcs"``,
            ``"right"`` or ``"whole"`` (the whole input merges into one node that
            grows the whole answer; for answers that reorder the input, with
            ``growth="decoder"``) (:func:`~pyg_grapheme.models.edit_supervision.edit_targets`).
        augment: probability that a grapheme class of a training batch gets
            redrawn features (:func:`~pyg_grapheme.models.feature_augmentation.randomize_graphemes`);
            0 for tasks whose rules depend on grapheme properties (arithmetic).
        lr: AdamW learning rate (the peak one with ``lr_schedule="onecycle"``).
        weight_decay: AdamW weight decay.
        lr_schedule: ``"constant"`` or ``"onecycle"`` (``OneCycleLR``: warm-up over
            the first ``warmup`` fraction of the steps, then cosine decay to
            ``lr / 1e4``; the step count comes from the trainer). Deeper models
            with several attention layers train reliably only with the warm-up.
        warmup: warm-up fraction for ``"onecycle"``.
        examples_to_keep: validation examples kept for the end-of-fit report.
    """

    def __init__(
        self,
        net: GraphTransformNet,
        objective: TransformObjective | None = None,
        alignment: str = "lcs",
        augment: float = 0.0,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        warmup: float = 0.15,
        examples_to_keep: int = 8,
    ) -> None:
        super().__init__()
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        if not 0.0 <= augment <= 1.0:
            raise ValueError(f"augment must be a probability in [0, 1], got {augment}")
        self.net = build_component(net, GraphTransformNet)
        self.objective = build_component(
            objective if objective is not None else TransformObjective(), TransformObjective
        )
        # Components are saved by their configuration, not pickled (load_from_checkpoint
        # rebuilds them), the same way whether the CLI or Python made this module.
        self.save_hyperparameters(ignore=["net", "objective"])
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
        self.examples_to_keep = examples_to_keep
        self.val_examples: list[tuple[str, str, str]] = []

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse weights that do not fit, naming the options that differ (resuming ``fit``
        with another configuration); :mod:`lightning_modules.checkpoint_io`."""
        check_resume(self, checkpoint)

    def on_fit_start(self) -> None:
        """Check once that every training pair can be produced, before any step runs."""
        datamodule = getattr(self.trainer, "datamodule", None)
        pairs = getattr(datamodule, "train_pairs", None)
        if pairs is not None:
            check_producible(pairs, self.hparams.alignment, self.net.max_children)

    # ---------------------------------------------------------------- steps
    def _shared_step(self, batch: tuple[Batch, Batch], augment: float = 0.0) -> dict[str, Tensor]:
        """Loss terms of a batch, with the target counts (teacher forcing)."""
        inputs, targets = batch
        sup = build_supervision(inputs, targets, self.net.output_vocab, self.hparams.alignment).to(
            self.device
        )
        emitted = None
        if self.net.decoder is not None:
            # Teacher forcing: output node k of a graph stands for its k-th target grapheme.
            class_rows = self.net.class_features(sup.space).to(inputs.x)
            emitted = class_rows.index_select(0, sup.target_class)
        if augment > 0.0:
            inputs = inputs.clone()
            if emitted is None:
                inputs.x = randomize_graphemes(inputs.x, sup.member_class, augment)
            else:
                # One draw for inputs and targets, so a redrawn class looks the same in both.
                both = randomize_graphemes(
                    torch.cat([inputs.x, emitted]),
                    torch.cat([sup.member_class, sup.target_class]),
                    augment,
                )
                inputs.x, emitted = both[: inputs.num_nodes], both[inputs.num_nodes :]
        out = self.net(inputs, length=sup.length, emitted=emitted)
        probs = self.net.type_probs(out, sup.member_class, sup.space)
        terms = self.objective(out, probs, targets, sup)
        terms["merge_ratio"] = torch.tensor(
            out.count_logit.size(0) / max(inputs.num_nodes, 1), device=self.device
        )
        for k, pool in enumerate(self.net.pools):
            terms[f"threshold_{k}"] = pool.threshold.detach()
        return terms

    def training_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> Tensor:
        terms = self._shared_step(batch, augment=self.hparams.augment)
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

    def validation_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> None:
        inputs, targets = batch
        terms = self._shared_step(batch)
        # Predictions grow by the model's own counts, as at inference.
        _, emitted = emit(self.net, inputs)
        predictions = ["".join(nodes) for nodes in emitted]
        wanted = list(targets.text)
        size = inputs.num_graphs
        for name, value in terms.items():
            self.log(f"val_{name}", value, on_epoch=True, batch_size=size, sync_dist=True)
        self.val_exact_match.update(predictions, wanted)
        self.val_cer.update(predictions, wanted)
        self.log(
            "val_exact_match", self.val_exact_match, on_epoch=True, batch_size=size, prog_bar=True
        )
        self.log("val_cer", self.val_cer, on_epoch=True, batch_size=size, prog_bar=True)
        if batch_idx == 0:
            self.val_examples = list(zip(inputs.text, predictions, wanted))[: self.examples_to_keep]

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.lr_schedule == "constant":
            return optimizer
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=self.hparams.lr,
            total_steps=max(int(self.trainer.estimated_stepping_batches), 1),
            pct_start=self.hparams.warmup,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def transform_text(self, texts: Sequence[str]) -> list[str]:
        """Shortcut to :meth:`GraphTransformNet.transform_text`."""
        return self.net.transform_text(texts)


def check_producible(pairs: Sequence[TextPair], alignment: str, max_children: int) -> None:
    """Raise a ``ValueError`` naming the first pair the network cannot produce: a non-empty
    target from an empty input, or more graphemes from one merge group than ``max_children``."""
    for pair in pairs:
        source, target = segment(pair.input), segment(pair.target)
        where = pair.meta.get("source", repr(pair.input))
        if not source and target:
            raise ValueError(
                f"{where}: target {pair.target!r} cannot be produced from an empty input "
                "(the model grows output nodes from input nodes)"
            )
        edits = edit_targets(source, target, alignment)
        if edits.length.numel() == 0:
            continue
        per_group = torch.zeros(int(edits.group.max()) + 1, dtype=torch.long)
        largest = int(per_group.index_add(0, edits.group, edits.length).max())
        if largest > max_children:
            raise ValueError(
                f"{where}: one input node must produce {largest} target graphemes under the "
                f"{alignment!r} alignment, more than model.net.max_children={max_children}; "
                f"raise --model.net.max_children to at least {largest}"
            )

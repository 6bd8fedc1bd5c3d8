"""GraphTransformModule: the LightningModule that trains a GraphTransformNet."""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch_geometric.data import Batch

from pyg_grapheme.loss import StructuralLoss
from pyg_grapheme.metrics import CharErrorRate, ExactMatch
from pyg_grapheme.models import GraphTransformNet, TransformOutput
from pyg_grapheme.models.feature_augmentation import randomize_graphemes
from pyg_grapheme.models.objective import TransformObjective, build_supervision
from pyg_grapheme.models.output_classes import ClassSpace

__all__ = ["GraphTransformModule"]


class GraphTransformModule(pl.LightningModule):
    """Holds the model, the objective and the train/validation steps.

    Every constructor argument is a LightningCLI config key (``model.*``);
    ``output_vocab`` is linked from the DataModule (``data.output_vocab``).

    Args:
        output_vocab: graphemes the model may generate (from training targets).
        hidden_channels, num_layers, heads, num_pools, threshold, temperature,
            pool_mode, periods, attention_layers, feedforward, gated_feedforward,
            post_pool_layers, run_features, dropout: see :class:`GraphTransformNet`.
        alignment: input-to-target alignment of the supervision, ``"levenshtein"``
            or ``"right"`` (:func:`~pyg_grapheme.models.edit_supervision.edit_targets`).
        structural_weight, merge_weight, type_weight, edit_weight: see
            :class:`~pyg_grapheme.models.objective.TransformObjective`.
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
        output_vocab: Sequence[str] = (),
        hidden_channels: int = 64,
        num_layers: int = 4,
        heads: int = 4,
        num_pools: int = 1,
        threshold: float = 0.5,
        temperature: float = 0.1,
        pool_mode: str = "components",
        periods: Sequence[int] = (2,),
        attention_layers: int = 1,
        feedforward: bool = False,
        gated_feedforward: bool = False,
        post_pool_layers: int = 0,
        run_features: bool = False,
        dropout: float = 0.0,
        alignment: str = "levenshtein",
        structural_weight: float = 1.0,
        merge_weight: float = 1.0,
        type_weight: float = 1.0,
        edit_weight: float = 0.1,
        augment: float = 0.0,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        warmup: float = 0.15,
        examples_to_keep: int = 8,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = GraphTransformNet(
            hidden_channels=hidden_channels,
            num_layers=num_layers,
            heads=heads,
            output_vocab=list(output_vocab),
            num_pools=num_pools,
            threshold=threshold,
            temperature=temperature,
            pool_mode=pool_mode,
            periods=periods,
            attention_layers=attention_layers,
            feedforward=feedforward,
            gated_feedforward=gated_feedforward,
            post_pool_layers=post_pool_layers,
            run_features=run_features,
            dropout=dropout,
        )
        if lr_schedule not in ("constant", "onecycle"):
            raise ValueError(f"lr_schedule must be 'constant' or 'onecycle', got {lr_schedule!r}")
        self.objective = TransformObjective(
            StructuralLoss(),
            structural_weight=structural_weight,
            merge_weight=merge_weight,
            type_weight=type_weight,
            edit_weight=edit_weight,
        )
        self.val_exact_match = ExactMatch()
        self.val_cer = CharErrorRate()
        self.examples_to_keep = examples_to_keep
        self.val_examples: list[tuple[str, str, str]] = []

    # ---------------------------------------------------------------- steps
    def _shared_step(
        self, batch: tuple[Batch, Batch], augment: float = 0.0
    ) -> tuple[dict[str, Tensor], Tensor, TransformOutput, ClassSpace]:
        """Loss terms, plus the class distribution, output and class space to decode."""
        inputs, targets = batch
        sup = build_supervision(
            inputs, targets, self.model.output_vocab, self.hparams.alignment
        ).to(self.device)
        if augment > 0.0:
            inputs = inputs.clone()
            inputs.x = randomize_graphemes(inputs.x, sup.member_class, augment)
        out = self.model(inputs)
        probs = self.model.type_probs(out, sup.member_class, sup.space)
        terms = self.objective(out, probs, targets, sup)
        terms["merge_ratio"] = torch.tensor(
            out.x.size(0) / max(inputs.num_nodes, 1), device=self.device
        )
        for k, pool in enumerate(self.model.pools):
            terms[f"threshold_{k}"] = pool.threshold.detach()
        return terms, probs, out, sup.space

    def training_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> Tensor:
        terms, *_ = self._shared_step(batch, augment=self.hparams.augment)
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
        terms, probs, out, space = self._shared_step(batch)
        predictions = self.model.decode(probs, out.batch, inputs.num_graphs, space)
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
        return self.model.transform_text(texts)

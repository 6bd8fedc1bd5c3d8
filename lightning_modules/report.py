"""FitReport: end-of-fit validation report, curves and merge diagrams (rank zero)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from pyg_grapheme.models import transducer_ensemble
from pyg_grapheme.viz import plot_curves, plot_morph_diagrams

__all__ = ["FitReport", "checkpoint_paths"]


class FitReport(pl.Callback):
    """Collects per-step curves; at the end of fit prints and draws a report.

    Printed: the last validation exact match and CER, a few validation
    examples (input -> prediction, target, and what merged and split into what,
    ``"aa→a · b→bb · c→∅"``), and the best and last checkpoint paths. Written
    to the trainer's log directory: ``loss_curves.png``, ``threshold_curves.png``
    and ``morph_diagrams.png``.

    Args:
        diagrams: number of validation examples drawn as morph diagrams.
    """

    def __init__(self, diagrams: int = 4) -> None:
        super().__init__()
        self.diagrams = diagrams
        self.steps: list[int] = []
        self.curves: dict[str, list[float]] = {}

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        metrics = trainer.callback_metrics
        self.steps.append(trainer.global_step)
        for name, value in metrics.items():
            if name.startswith("train_") and name.endswith("_step"):
                self.curves.setdefault(name[len("train_") : -len("_step")], []).append(float(value))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # trainer.log_dir is a collective (broadcast) under DDP: every rank asks.
        out_dir = Path(trainer.log_dir or trainer.default_root_dir)
        if trainer.is_global_zero:
            self._report(trainer, pl_module, out_dir)

    def _report(self, trainer: pl.Trainer, pl_module: pl.LightningModule, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics = trainer.callback_metrics
        lines = ["", "=== validation report ==="]
        if "val_exact_match" in metrics:
            lines.append(
                f"exact_match={float(metrics['val_exact_match']):.4f} "
                f"cer={float(metrics['val_cer']):.4f}"
            )
        examples = getattr(pl_module, "val_examples", [])
        drawn = self._morphs(pl_module, [source for source, _, _ in examples])
        for (source, predicted, wanted), (_, morph, _) in zip(examples, drawn):
            mark = "ok " if predicted == wanted else "ERR"
            lines.append(f"  {mark} {source!r} -> {predicted!r}   (target {wanted!r})   {morph}")
        figures = self._figures(drawn[: self.diagrams], out_dir)
        lines += [f"figure: {p}" for p in figures]
        best, last = checkpoint_paths(trainer)
        lines.append(f"best checkpoint: {best or '(none)'}")
        lines.append(f"last checkpoint: {last or '(none)'}")
        print("\n".join(lines), flush=True)

    @staticmethod
    def _morphs(
        pl_module: pl.LightningModule, sources: list[str]
    ) -> list[tuple[str, str, tuple[list[str], list[int], list[str], list[int]]]]:
        """(output, morph text, diagram data) of each source, as the model runs now; an
        empty source has no node, so it writes nothing and draws an empty diagram."""
        drawn: list[tuple[str, str, tuple[list[str], list[int], list[str], list[int]]]]
        drawn = [("", "", ([], [], [], []))] * len(sources)
        nonempty = [i for i, source in enumerate(sources) if source]
        if not nonempty:
            return drawn
        texts = [sources[i] for i in nonempty]
        beam = getattr(pl_module.hparams, "beam", 1)
        nets = getattr(pl_module, "nets", [pl_module.net])
        if len(nets) == 1:
            data, result = pl_module.net.transduce_texts(texts, beam=beam)
        else:
            # The members' output, drawn as the first member's best alignment of it.
            data, result = nets[0].align_texts(texts, transducer_ensemble(nets, texts, beam))
        cluster = result.cluster.tolist()
        graph_of = data.batch.tolist()
        for g, (i, source_clusters) in enumerate(zip(nonempty, data.clusters)):
            graph_cluster = [k for k, b in zip(cluster, graph_of) if b == g]
            diagram = (list(source_clusters), graph_cluster, result.units[g], result.parent[g])
            drawn[i] = (result.outputs[g], result.morphs[g], diagram)
        return drawn

    def _figures(
        self,
        drawn: list[tuple[str, str, tuple[list[str], list[int], list[str], list[int]]]],
        out_dir: Path,
    ) -> list[Path]:
        paths = []
        losses = {
            k: v
            for k, v in self.curves.items()
            if k in ("loss", "transducer", "merge", "structural")
        }
        if losses:
            paths.append(plot_curves(self.steps, losses, out_dir / "loss_curves.png", "loss"))
        thresholds = {k: v for k, v in self.curves.items() if k == "threshold"}
        thresholds.update({k: v for k, v in self.curves.items() if k == "merge_ratio"})
        if thresholds:
            paths.append(
                plot_curves(
                    self.steps,
                    thresholds,
                    out_dir / "threshold_curves.png",
                    "pool thresholds and merge ratio",
                )
            )
        if drawn:
            diagrams = [diagram for _, _, diagram in drawn]
            paths.append(plot_morph_diagrams(diagrams, out_dir / "morph_diagrams.png"))
        return paths


def checkpoint_paths(trainer: pl.Trainer) -> tuple[str, str]:
    """(best, last): the monitored callback's best file, the unmonitored one's latest."""
    best = last = ""
    for callback in trainer.checkpoint_callbacks:
        if callback.monitor is not None:
            best = best or callback.best_model_path
        else:
            last = last or callback.best_model_path
        last = last or callback.last_model_path
    return best, last

"""Lightning training pipeline for pyg-grapheme (LightningModule, DataModule, CLIs)."""

from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.module import GraphTransformModule

__all__ = ["GraphTransformModule", "GraphemeDataModule"]

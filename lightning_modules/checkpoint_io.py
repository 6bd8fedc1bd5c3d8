"""Checkpoints read and written safely: a bad file is named in one line, never half-written.

Reading (:func:`read_checkpoint`, and :class:`CheckedCheckpointIO` for ``fit``):

- the file must exist, be a file, and be a ``torch.save`` zip archive whose every
  member matches the CRC-32 stored beside it (``torch.load`` does not check
  these: flipped weight bytes loaded silently as NaN weights); a zero-byte,
  truncated or text file is named as such;
- it is loaded with ``weights_only=True`` (our checkpoints hold tensors and
  plain configuration only, so a checkpoint cannot run code);
- its contents must be a checkpoint of ``lightning_modules.fit``
  (:func:`check_contents`: a ``state_dict`` and the ``model.net`` configuration),
  and every floating weight and optimizer state must be finite.

Every problem is a :class:`CheckpointError` (a ``ValueError``) that starts with
the path, so the commands print it as one line and exit with status 2.

Writing (:class:`CheckedCheckpointIO`): the checkpoint goes to a temporary file
in the same folder, is flushed to disk, and replaces the old file in one rename,
so a run killed while saving leaves the previous checkpoint whole. (Lightning's
own writer stages the file in the system's temporary folder and moves it, a copy
when that folder is on another disk.)

Resuming (:func:`check_fits`, called by the LightningModule's
``on_load_checkpoint``): weights that do not fit the model are refused with the
options whose values differ between the checkpoint and this run
(``model.net.init_args.hidden_channels is 16 in the checkpoint, 64 in this run``)
instead of a page of size mismatches; options that differ while the weights
still fit (a new learning rate) are reported and kept.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_info

__all__ = [
    "CheckedCheckpointIO",
    "CheckpointError",
    "check_before_resume",
    "check_contents",
    "check_fits",
    "check_resume",
    "load_module",
    "read_checkpoint",
    "write_atomically",
]

_SHOWN_DIFFERENCES = 4
_SHOWN_VALUE = 60


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def _checked_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path`` if it is a whole ``torch.save`` zip archive."""
    name = os.fspath(path)
    file = Path(name)
    if file.is_dir():
        raise CheckpointError(f"{name}: is a folder, not a checkpoint file")
    if not file.exists():
        raise CheckpointError(f"{name}: no such checkpoint file")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{name}: cannot be read ({exc.strerror})") from None
    if not data:
        raise CheckpointError(
            f"{name}: is empty (0 bytes), not a checkpoint; was its writing interrupted?"
        )
    if not zipfile.is_zipfile(io.BytesIO(data)):
        head = data[:512]
        if b"\0" not in head and head.strip() and all(b >= 9 for b in head):
            kind = "a text file"
        elif data.startswith(b"PK"):
            kind = "a truncated archive (its end is missing)"
        else:
            kind = "another kind of file"
        raise CheckpointError(
            f"{name}: is {kind}, not a checkpoint written by lightning_modules.fit "
            "(torch.save's zip archive)"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{name}: is a damaged archive ({exc})") from None
    if damaged is not None:
        raise CheckpointError(
            f"{name}: is damaged: the bytes of {damaged} do not match their stored CRC-32"
        )
    return data


def read_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu", check: bool = True
) -> dict[str, Any]:
    """Load a checkpoint of ``lightning_modules.fit`` after checking the file and its contents.

    Args:
        path: the ``.ckpt`` file.
        map_location: as for :func:`torch.load`.
        check: also :func:`check_contents` (a ``state_dict``, the ``model.net``
            configuration, finite values).

    Raises:
        CheckpointError: the file is missing, a folder, unreadable, empty, not a zip
            archive, damaged (a CRC mismatch), not a checkpoint, or holds non-finite values.
    """
    name = os.fspath(path)
    checkpoint = _loaded(_checked_bytes(name), name, map_location)
    if check:
        check_contents(checkpoint, name)
    return checkpoint


def _loaded(data: bytes, name: str, map_location: Any) -> dict[str, Any]:
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{name}: cannot be read as a checkpoint ({first})") from None


def _tensors(value: Any, where: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _tensors(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            yield from _tensors(item, f"{where}[{k}]")


def check_contents(checkpoint: Any, where: str = "the checkpoint") -> None:
    """Raise a :class:`CheckpointError` unless ``checkpoint`` is one of ``lightning_modules.fit``
    (a dict with ``state_dict`` and ``hyper_parameters["net"]``) whose floating weights and
    optimizer states are all finite."""
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("state_dict"), Mapping):
        keys = sorted(map(str, checkpoint))[:6] if isinstance(checkpoint, Mapping) else None
        held = f"a dict with keys {keys}" if keys is not None else type(checkpoint).__name__
        raise CheckpointError(
            f"{where}: is not a checkpoint of lightning_modules.fit (it holds {held}, "
            "no state_dict)"
        )
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping) or "net" not in hparams:
        found = sorted(map(str, hparams))[:6] if isinstance(hparams, Mapping) else None
        raise CheckpointError(
            f"{where}: is not a checkpoint of lightning_modules.fit: its hyper-parameters "
            f"hold no model.net configuration (they are {found}); a checkpoint of an "
            "earlier layout must be retrained with the same task config"
        )
    for part in ("state_dict", "optimizer_states"):
        for name, tensor in _tensors(checkpoint.get(part), ""):
            if tensor.is_floating_point() or tensor.is_complex():
                bad = int((~torch.isfinite(tensor)).sum())
                if bad:
                    what = "weight" if part == "state_dict" else "optimizer state"
                    raise CheckpointError(
                        f"{where}: {what} {name} holds {bad} NaN or infinite value(s) of "
                        f"{tensor.numel()}: the checkpoint is damaged or its training diverged"
                    )


def _flat(options: Any, prefix: str) -> dict[str, Any]:
    if isinstance(options, Mapping):
        flat: dict[str, Any] = {}
        for key, value in options.items():
            if key == "_instantiator":
                continue
            flat.update(_flat(value, f"{prefix}.{key}"))
        return flat
    return {prefix: list(options) if isinstance(options, tuple) else options}


def _shown(value: Any) -> str:
    if isinstance(value, list) and len(value) > 8:
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."


def differing_options(
    saved: Mapping[str, Any], current: Mapping[str, Any], prefix: str = "model"
) -> list[str]:
    """``"model.lr is 0.003 in the checkpoint, 0.01 in this run"`` for each option whose
    value differs (nested configurations are compared key by key), then the options only
    one side has."""
    old, new = _flat(saved, prefix), _flat(current, prefix)
    changed = [
        f"{key} is {_shown(old[key])} in the checkpoint, {_shown(new[key])} in this run"
        for key in sorted(set(old) & set(new))
        if old[key] != new[key]
    ]
    # Options one side lacks (an option added to a class since) come after the changed ones.
    changed += [f"{key} is unset in the checkpoint" for key in sorted(set(new) - set(old))]
    changed += [f"{key} is not an option of this run" for key in sorted(set(old) - set(new))]
    return changed


def check_fits(
    module: torch.nn.Module,
    checkpoint: Mapping[str, Any],
    where: str = "the checkpoint",
    data_options: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
    report: bool = True,
) -> None:
    """Raise a :class:`CheckpointError` naming the options that differ when the checkpoint's
    weights do not fit ``module`` (a missing, extra or differently shaped tensor); report the
    options that differ when they do fit.

    Args:
        module: the LightningModule being restored (its ``hparams`` are this run's options).
        checkpoint: the loaded checkpoint (checked with :func:`check_contents` first).
        where: how the checkpoint is named in messages.
        data_options: ``(saved, current)`` DataModule options, compared as ``data.*``.
        report: log the options that differ when the weights fit.
    """
    check_contents(checkpoint, where)
    own = module.state_dict()
    theirs = checkpoint["state_dict"]
    misfits = [
        f"{key} has shape {list(theirs[key].shape)} in the checkpoint, {list(own[key].shape)} here"
        for key in own
        if key in theirs and tuple(theirs[key].shape) != tuple(own[key].shape)
    ]
    misfits += [f"{key} is missing from the checkpoint" for key in own if key not in theirs]
    misfits += [f"{key} is in the checkpoint only" for key in theirs if key not in own]
    differences = differing_options(checkpoint["hyper_parameters"], getattr(module, "hparams", {}))
    if data_options is not None:
        differences += differing_options(*data_options, prefix="data")
    if misfits:
        shown = "; ".join(differences[:_SHOWN_DIFFERENCES]) or misfits[0]
        more = len(differences) - _SHOWN_DIFFERENCES
        raise CheckpointError(
            f"{where}: was written with another configuration, so its weights do not fit "
            f"this model: {shown}{f'; and {more} more' if more > 0 else ''}. Resume with the "
            "options it was trained with, or start a new run (another "
            "--trainer.default_root_dir) without --ckpt_path"
        )
    if differences and report:
        rank_zero_info(
            f"{where}: resuming with options that differ from the checkpoint's: "
            + "; ".join(differences[:_SHOWN_DIFFERENCES])
            + (
                f"; and {len(differences) - _SHOWN_DIFFERENCES} more"
                if len(differences) > 4
                else ""
            )
        )


def check_resume(module: Any, checkpoint: Mapping[str, Any]) -> None:
    """:func:`check_fits` for a LightningModule's ``on_load_checkpoint``: the checkpoint is
    named by the trainer's ``ckpt_path`` when a fit restores it, and the DataModule's options
    are compared too."""
    trainer = getattr(module, "_trainer", None)
    if trainer is None:  # load_from_checkpoint: the module was built from the checkpoint
        check_fits(module, checkpoint, report=False)
        return
    where = str(getattr(trainer, "ckpt_path", None) or "the checkpoint")
    datamodule = getattr(trainer, "datamodule", None)
    saved_data = checkpoint.get("datamodule_hyper_parameters")
    data_options = None
    if datamodule is not None and isinstance(saved_data, Mapping):
        data_options = (saved_data, dict(datamodule.hparams))
    check_fits(module, checkpoint, where, data_options)


def check_before_resume(trainer: Any, module: Any, datamodule: Any, ckpt_path: str | None) -> None:
    """Check the checkpoint a fit will resume from (``--ckpt_path``: a file, or ``"last"``)
    before the fit starts: the file (:func:`read_checkpoint`) and whether its weights fit
    ``module`` (:func:`check_fits`), so that a bad one is the command's only output line."""
    if ckpt_path is None or ckpt_path in ("best", "hpc") or ckpt_path.startswith("registry"):
        return  # Lightning resolves these itself; on_load_checkpoint still checks the weights
    path = ckpt_path
    if ckpt_path == "last":
        found = set()
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint):
                found |= callback._find_last_checkpoints(trainer)
        if not found:
            return  # a first run with --ckpt_path last starts from scratch (Lightning warns)
        path = max(found, key=os.path.getmtime)
    checkpoint = read_checkpoint(path)
    saved_data = checkpoint.get("datamodule_hyper_parameters")
    data_options = None
    if datamodule is not None and isinstance(saved_data, Mapping):
        data_options = (saved_data, dict(datamodule.hparams))
    adopt_vocabulary = getattr(module, "adopt_vocabulary", None)
    if adopt_vocabulary is not None:  # a curriculum's later levels add output units
        adopt_vocabulary(checkpoint)
    check_fits(module, checkpoint, path, data_options, report=False)


def load_module(cls: Any, path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """``cls.load_from_checkpoint(path)`` for a checkpoint that :func:`read_checkpoint` checked
    first: a bad file is a :class:`CheckpointError` naming it, not a loader's traceback."""
    name = os.fspath(path)
    data = _checked_bytes(name)
    check_contents(_loaded(data, name, "cpu"), name)
    try:
        return cls.load_from_checkpoint(
            io.BytesIO(data), map_location=map_location, weights_only=True
        )
    except CheckpointError as exc:
        raise CheckpointError(str(exc).replace("the checkpoint", name, 1)) from None
    except Exception as exc:
        # Its saved configuration is what builds the model: an error there is the file's.
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckpointError(
            f"{name}: its saved configuration does not build a model ({type(exc).__name__}: "
            f"{message[:300]})"
        ) from exc


def write_atomically(
    path: str | os.PathLike[str], write: Callable[[io.BufferedWriter], None]
) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it to disk and rename it to
    ``path``: readers see the old file or the new one, never a part. The temporary name
    starts with a dot and does not start with ``last``, so Lightning's search for
    ``last*.ckpt`` never picks a leftover of a killed run."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".writing-", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # what a plain open() would have given
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class CheckedCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O with atomic writes (:func:`write_atomically`) and checked
    reads (:func:`read_checkpoint`); ``fit`` installs it on its trainer's strategy."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("CheckedCheckpointIO.save_checkpoint takes no storage_options")
        write_atomically(path, lambda handle: torch.save(checkpoint, handle))

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        location = map_location if map_location is not None else (lambda storage, _: storage)
        return read_checkpoint(path, map_location=location)

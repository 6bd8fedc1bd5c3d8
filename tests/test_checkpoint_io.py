"""Checkpoints: damaged or foreign files are one line and exit 2, weights are checked finite,
a resume with another configuration names the options, writes are atomic."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from fit_cases import fit_error_lines
from robust_cases import TINY, tiny_fit

from lightning_modules import predict as predict_cli
from lightning_modules.checkpoint_io import (
    CheckedCheckpointIO,
    CheckpointError,
    differing_options,
    read_checkpoint,
    write_atomically,
)
from lightning_modules.command_line import one_line_errors


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One epoch of a tiny model; returns the run folder and its last.ckpt."""
    run_dir = tmp_path_factory.mktemp("tiny")
    return run_dir, tiny_fit(run_dir)


def _flip_weight_bytes(source: Path, target: Path) -> str:
    """Copy ``source`` with 8 bytes of its largest weight record overwritten (the zip's CRC-32
    of that record no longer matches); returns the record's name."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = max(
            (i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size
        )
    name_length, extra_length = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_length + extra_length
    data[start : start + 8] = struct.pack("<2f", float("nan"), float("nan"))
    target.write_bytes(bytes(data))
    return info.filename


def _predict_error(ckpt: Path, capsys) -> str:
    """``predict --ckpt ckpt --text ab`` as the command runs it: the one stderr line, exit 2."""
    with pytest.raises(SystemExit) as stop, one_line_errors("predict"):
        predict_cli.main(["--ckpt", str(ckpt), "--text", "ab"])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"", "is empty (0 bytes)"),
        (lambda data: data[:600], "is a truncated archive"),
        (lambda data: data[: len(data) // 2], "is a truncated archive"),
        (lambda data: b"step 3: loss 0.25\n", "is a text file"),
        (lambda data: bytes(range(256)) * 8, "is another kind of file"),
    ],
)
def test_damaged_checkpoint_is_one_line_and_exit_2(tiny_run, tmp_path, capsys, damage, message):
    # Before: a RuntimeError traceback, exit 1 (for the zero-byte file, one about mmap).
    _, last = tiny_run
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(damage(last.read_bytes()))
    line = _predict_error(bad, capsys)
    assert line.startswith(f"predict: error: {bad}: {message}") and "mmap" not in line


def test_corrupted_weight_bytes_fail_the_crc_check(tiny_run, tmp_path, capsys):
    # Before: the CRC was never checked, the NaN weights loaded, every output was empty
    # and predict exited 0.
    _, last = tiny_run
    bad = tmp_path / "flipped.ckpt"
    record = _flip_weight_bytes(last, bad)
    assert torch.load(bad, weights_only=True)  # torch itself loads it
    line = _predict_error(bad, capsys)
    assert line == (
        f"predict: error: {bad}: is damaged: the bytes of {record} do not match their stored CRC-32"
    )


def test_non_finite_weights_are_refused(tiny_run, tmp_path, capsys):
    _, last = tiny_run
    checkpoint = torch.load(last, weights_only=True)
    weight = checkpoint["state_dict"]["net.embed.weight"]
    weight[0, :3] = torch.tensor([float("nan"), float("inf"), 1.0])
    bad = tmp_path / "nan.ckpt"
    torch.save(checkpoint, bad)  # a valid archive: only the values are wrong
    line = _predict_error(bad, capsys)
    assert f"weight net.embed.weight holds 2 NaN or infinite value(s) of {weight.numel()}" in line


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ({"a": torch.ones(2)}, r"is not a checkpoint of lightning_modules.fit \(it holds a dict"),
        (torch.nn.Linear(2, 2).state_dict(), "keys \\['bias', 'weight'\\], no state_dict"),
        ({"state_dict": {}, "hyper_parameters": {"hidden_channels": 64}}, "no model.net"),
        ([1, 2, 3], r"\(it holds list, no state_dict\)"),
    ],
)
def test_foreign_checkpoint_is_named(tmp_path, capsys, contents, message):
    path = tmp_path / "foreign.ckpt"
    torch.save(contents, path)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)
    assert "predict: error:" in _predict_error(path, capsys)


def test_missing_file_and_folder_are_named(tmp_path, capsys):
    assert _predict_error(tmp_path / "nope.ckpt", capsys).endswith(
        "nope.ckpt: no such checkpoint file"
    )
    assert _predict_error(tmp_path, capsys).endswith(": is a folder, not a checkpoint file")


def test_resume_with_another_configuration_names_the_options(tiny_run, monkeypatch, capsys):
    # Before: a 94-line size-mismatch traceback.
    run_dir, last = tiny_run
    args = [*TINY, "--ckpt_path", str(last), "--model.net.init_args.hidden_channels", "12"]
    lines = fit_error_lines(run_dir, monkeypatch, capsys, *args)
    assert len(lines) == 1
    assert lines[0].startswith(f"fit: error: {last}: was written with another configuration")
    assert "model.net.init_args.hidden_channels is 8 in the checkpoint, 12 in this run" in lines[0]


def test_damaged_resume_checkpoint_is_one_line(tiny_run, tmp_path, monkeypatch, capsys):
    run_dir, last = tiny_run
    bad = tmp_path / "flipped.ckpt"
    _flip_weight_bytes(last, bad)
    lines = fit_error_lines(run_dir, monkeypatch, capsys, *TINY, "--ckpt_path", str(bad))
    assert len(lines) == 1
    assert lines[0].startswith(f"fit: error: {bad}: is damaged: the bytes of archive/data/")
    assert lines[0].endswith("do not match their stored CRC-32")


def test_differing_options_lists_changed_then_one_sided_keys():
    saved = {"lr": 0.003, "net": {"init_args": {"hidden_channels": 16, "gone": 1}}}
    current = {"lr": 0.01, "net": {"init_args": {"hidden_channels": 16, "new": True}}}
    assert differing_options(saved, current) == [
        "model.lr is 0.003 in the checkpoint, 0.01 in this run",
        "model.net.init_args.new is unset in the checkpoint",
        "model.net.init_args.gone is not an option of this run",
    ]


class _Interrupted(BaseException):
    pass


def test_writes_are_atomic(tmp_path):
    target = tmp_path / "last.ckpt"
    torch.save({"step": 1}, target)
    before = target.read_bytes()

    def dies_half_way(handle: io.BufferedWriter) -> None:
        handle.write(before[:100])
        raise _Interrupted  # a signal or a full disk while writing

    with pytest.raises(_Interrupted):
        write_atomically(target, dies_half_way)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no partial file left behind
    CheckedCheckpointIO().save_checkpoint({"step": 2}, target)
    assert torch.load(target, weights_only=True) == {"step": 2}
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask

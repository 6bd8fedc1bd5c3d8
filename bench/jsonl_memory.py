"""Memory and time of reading a large JSONL file, per MB of file, against plain ``json.loads``.

Writes a pairs file of about ``--mb`` MB (Latin strings of 1-8 clusters, their
dedupe targets: about 36 bytes a record, the shape of the curriculum files),
then measures in a fresh process each:

- ``json.loads`` per line into a list: the floor of any reader that keeps the
  records (no checks, no ``TextPair``);
- :func:`~pyg_grapheme.data.read_jsonl`: every line checked, a ``TextPair`` per record
  with its ``meta`` (``source`` = ``file:line``, ``format``, ``extra``);
- :class:`~pyg_grapheme.data.jsonl.JsonlReader` iterated without keeping the
  records: what ``predict`` does to check a file before it streams it.

Memory is the growth of the resident set (``VmRSS``) while the records are held,
and of its peak (``VmHWM``) during the read; both divided by the file's size in MB.

    python bench/jsonl_memory.py --mb 50
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

MODES = ("json.loads", "read_jsonl", "JsonlReader stream")


def _write(path: str, megabytes: float, seed: int = 0) -> int:
    draw = random.Random(seed)
    records = 0
    with open(path, "w", encoding="utf-8") as handle:
        while handle.tell() < megabytes * 1e6:
            text = "".join(draw.choice("abcdefgh") for _ in range(draw.randint(1, 8)))
            handle.write(json.dumps({"input": text, "target": "".join(dict.fromkeys(text))}))
            handle.write("\n")
            records += 1
    return records


def _status(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1e3
    raise RuntimeError(f"no {field} in /proc/self/status")


def _measure(mode: str, path: str) -> None:
    """Run in a child process: print ``seconds held_mb peak_mb records``."""
    from pyg_grapheme.data import read_jsonl
    from pyg_grapheme.data.jsonl import JsonlReader

    base = _status("VmRSS:")
    start = time.perf_counter()
    if mode == "json.loads":
        with open(path, encoding="utf-8") as handle:
            kept = [json.loads(line) for line in handle]
        records = len(kept)
    elif mode == "read_jsonl":
        kept = read_jsonl(path)
        records = len(kept)
    else:
        records = sum(1 for _ in JsonlReader(path))
    seconds = time.perf_counter() - start
    print(seconds, _status("VmRSS:") - base, _status("VmHWM:") - base, records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="file size in MB")
    parser.add_argument("--_measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._measure:
        _measure(*args._measure)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "pairs.jsonl")
        records = _write(path, args.mb)
        size = os.path.getsize(path) / 1e6
        print(f"{size:.1f} MB, {records:,} records ({size * 1e6 / records:.0f} bytes each)")
        print(
            f"{'reader':<20} {'s':>7} {'held MB/MB':>11} {'peak MB/MB':>11} {'vs json.loads':>14}"
        )
        floor = None
        for mode in MODES:
            done = subprocess.run(
                [sys.executable, __file__, "--_measure", mode, path],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            seconds, held, peak, count = (float(v) for v in done.stdout.split())
            assert int(count) == records
            floor = floor if floor is not None else peak
            print(
                f"{mode:<20} {seconds:7.1f} {held / size:11.2f} {peak / size:11.2f} "
                f"{peak / floor:13.2f}x"
            )


if __name__ == "__main__":
    main()

"""bench/pool.py: the operation counter, the skip rules and one small run of every method."""

from __future__ import annotations

import pytest
import torch

from bench.pool import OperationCounter, chain_batch, main, random_batch


def test_operation_counter_counts_each_aten_call_forward_and_backward():
    x = torch.ones(3, requires_grad=True)
    counter = OperationCounter()
    with counter:
        y = (x * 2).sum()  # mul, sum
    assert counter.count == 2
    with counter:
        y.backward()
    assert counter.count > 2  # the backward's ops land in the same counter
    assert torch.equal(x.grad, torch.full((3,), 2.0))


def test_batches_are_32_node_graphs_in_both_directions():
    chain = chain_batch(64)
    assert chain.size(1) == 2 * 62  # 31 edges a chain, both directions
    assert set(chain.view(-1).tolist()) == set(range(64))
    assert bool(((chain[0] // 32) == (chain[1] // 32)).all())  # never across graphs
    edges = random_batch(64, torch.Generator().manual_seed(0))
    reverse = edges.flip(0)
    assert {tuple(e) for e in edges.t().tolist()} == {tuple(e) for e in reverse.t().tolist()}
    assert bool(((edges[0] // 32) == (edges[1] // 32)).all())
    assert bool((edges[0] != edges[1]).all())


def test_a_small_run_prints_every_method_and_skips_with_the_reason(capsys):
    main(["--sizes", "64", "128", "--repeats", "1", "--no-memory", "--graphs", "chain",
          "--cluster-pool-max", "64", "--max-call-seconds", "1e-9"])  # fmt: skip
    out = capsys.readouterr().out
    head = (
        "| N | E | GCNConv | ours-matching | ours-components | EdgePooling | ClusterPooling "
        "| TopKPooling | SAGPooling | ASAPooling | graclus |"
    )
    assert out.count(head) == 2  # the times and the counts
    row_64 = next(line for line in out.splitlines() if line.startswith("| 64 | 124 |"))
    assert "(1.00x)" in row_64 and row_64.count("x)") >= 8  # GCNConv and every pool ran
    # Above --cluster-pool-max and past the time budget every method stops, saying why.
    assert "N=128: ClusterPooling skipped above 64 nodes (dense N x N matrices)" in out
    assert "N=128: TopKPooling skipped: 0.0 s a call at 64 nodes, so about 0 s here" in out
    assert "N=128: GCNConv skipped" not in out  # the reference of every ratio always runs
    assert "nodes kept (output / input) and the index validation" in out


def test_bad_arguments_exit_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--sizes", "100"])
    assert exit_info.value.code == 2
    assert "--sizes must be positive multiples of 32" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main(["--device", "cuda"])
        assert "no CUDA device is available" in capsys.readouterr().err

"""Speed and memory of StructuralLoss against POT's Sinkhorn solvers.

Workload: B = 256 graph pairs of 8-32 nodes (uniform), predicted side with
soft types over C = 64 classes (softmax of logits that require grad),
activations and soft edge weights; target side with class indices,
activations and hard edges. Every row is forward + backward, float32, CPU,
best of ``--repeat`` runs (the box is shared, so the minimum is the least
disturbed measurement). Wall-clock and process CPU time are both printed: on a
busy machine CPU time with ``--threads 1`` is the steadier measure of cost.

Rows:
- ``StructuralLoss()`` as shipped: node + edge + clique terms, 16 fused-GW
  steps of 5 Sinkhorn iterations (1 log-domain + 4 scaling), envelope
  gradients;
- the same with ``grad="autodiff"`` (gradients through all iterations);
- our log-domain ``sinkhorn`` on the node term alone, 80 iterations;
- POT's ``ot.solve_batch`` on the node term alone (the same [B, n+1, m+1]
  cost and masses, log Sinkhorn, envelope gradient): with our iteration
  budget at our final epsilon (like for like per iteration), and with its
  defaults (tol 1e-5, at most 1000 iterations) at epsilon 0.1 and 0.02;
- POT's per-pair ``ot.sinkhorn2`` loop (torch backend, log Sinkhorn), same
  iteration budget.

Then the bytes autograd saves for backward (saved-tensor hooks, distinct
storages) as the iteration count grows: flat on the envelope path, linear
with autodiff.

    python bench/loss.py [--pairs 256] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import ot
import torch
from torch_geometric.data import Batch, Data

from pyg_grapheme.loss import StructuralLoss, sinkhorn


def random_pairs(
    num_pairs: int, num_classes: int = 64, min_nodes: int = 8, max_nodes: int = 32, seed: int = 0
) -> tuple[Batch, Batch]:
    """Predicted (soft) and target (hard) random DAG batches."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(num_pairs):
        for side in ("pred", "target"):
            n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=g))
            upper = torch.triu_indices(n, n, 1)
            edge_index = upper[:, torch.rand(upper.shape[1], generator=g) < 3.0 / n]
            if side == "pred":
                preds.append(
                    Data(
                        type=torch.randn(n, num_classes, generator=g),
                        act=torch.rand(n, generator=g),
                        edge_index=edge_index,
                        edge_weight=torch.rand(edge_index.shape[1], generator=g),
                        num_nodes=n,
                    )
                )
            else:
                targets.append(
                    Data(
                        type=torch.randint(0, num_classes, (n,), generator=g),
                        act=(torch.rand(n, generator=g) > 0.5).float(),
                        edge_index=edge_index,
                        num_nodes=n,
                    )
                )
    return Batch.from_data_list(preds), Batch.from_data_list(targets)


def best_ms(fn: Callable[[], object], repeat: int, warmup: bool = True) -> tuple[float, float]:
    """Best wall-clock and best process CPU time over ``repeat`` runs, in ms."""
    if warmup:
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1e3 * min(wall), 1e3 * min(cpu)


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes of distinct storages autograd keeps for backward while ``fn`` runs."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    pred, target = random_pairs(args.pairs)
    logits = pred.type.clone().requires_grad_(True)
    act = pred.act.clone().requires_grad_(True)
    weight = pred.edge_weight.clone().requires_grad_(True)

    def predicted() -> Batch:
        out = pred.clone()
        out.type, out.act, out.edge_weight = logits.softmax(-1), act, weight
        return out

    def full(loss_fn: StructuralLoss) -> Callable[[], None]:
        def run() -> None:
            loss_fn(predicted(), target).backward()

        return run

    shipped = StructuralLoss()
    with torch.no_grad():
        alignment = shipped.align(predicted(), target)
    cost, a, b = alignment.cost, alignment.a, alignment.b
    iterations = 80  # node-only rows: ours and POT with the same budget

    def ours_node_only() -> None:
        c = cost.clone().requires_grad_(True)
        plan = sinkhorn(c, a, b, 0.02, max_iter=iterations, epsilon_start=2.0, grad="envelope")
        (c * plan).sum().backward()

    def pot_batch(reg: float, max_iter: int = 1000, tol: float = 1e-5) -> Callable[[], None]:
        def run() -> None:
            c = cost.clone().requires_grad_(True)
            result = ot.solve_batch(c, reg, a, b, method="log_sinkhorn", max_iter=max_iter, tol=tol)
            result.value.sum().backward()

        return run

    def pot_loop(reg: float, max_iter: int) -> Callable[[], None]:
        sizes = list(zip(alignment.pred.num_nodes.tolist(), alignment.target.num_nodes.tolist()))

        def run() -> None:
            c = cost.clone().requires_grad_(True)
            total = c.new_zeros(())
            for k, (n, m) in enumerate(sizes):
                keep_r = torch.tensor([*range(n), cost.shape[1] - 1])
                keep_c = torch.tensor([*range(m), cost.shape[2] - 1])
                total = total + ot.sinkhorn2(
                    a[k, keep_r], b[k, keep_c], c[k][keep_r][:, keep_c], reg,
                    method="sinkhorn_log", numItermax=max_iter, stopThr=0.0,
                )  # fmt: skip
            total.backward()

        return run

    rows = [
        ("StructuralLoss() full, envelope (shipped)", full(shipped), args.repeat),
        (
            "StructuralLoss(grad='autodiff') full",
            full(StructuralLoss(grad="autodiff")),
            args.repeat,
        ),
        (f"ours sinkhorn, node only, eps 0.02, {iterations} it", ours_node_only, args.repeat),
        (
            f"POT solve_batch, node only, eps 0.02, {iterations} it",
            pot_batch(0.02, iterations, 0.0),
            2,
        ),
        ("POT solve_batch, node only, eps 0.1, tol 1e-5", pot_batch(0.1), 1),
        ("POT solve_batch, node only, eps 0.02, tol 1e-5", pot_batch(0.02), 1),
        (f"POT sinkhorn2 per-pair loop, eps 0.02, {iterations} it", pot_loop(0.02, iterations), 1),
    ]
    print(
        f"B = {args.pairs} pairs, {int(pred.num_nodes)} + {int(target.num_nodes)} nodes, "
        f"padded [B, {cost.shape[1]}, {cost.shape[2]}], {torch.get_num_threads()} threads"
    )
    header = f"{'forward + backward':<52} {'wall ms':>9} {'ratio':>7} {'CPU ms':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    reference = None
    for name, fn, repeat in rows:
        wall, cpu = best_ms(fn, repeat, warmup=repeat > 1)
        reference = (wall, cpu) if reference is None else reference
        print(
            f"{name:<52} {wall:>9.1f} {wall / reference[0]:>6.1f}x "
            f"{cpu:>9.1f} {cpu / reference[1]:>6.1f}x"
        )

    print()
    header = f"{'bytes saved for backward':<50} {'K=5':>9} {'K=15':>9} {'K=45':>9}"
    print(header)
    print("-" * len(header))
    for mode in ("envelope", "autodiff"):
        sizes = []
        for outer in (5, 15, 45):
            loss_fn = StructuralLoss(grad=mode, outer_iter=outer)
            sizes.append(saved_bytes(lambda loss_fn=loss_fn: loss_fn(predicted(), target)))
        print(
            f"{f'StructuralLoss(grad={mode!r}), K fused steps':<50} "
            + " ".join(f"{s / 2**20:>7.1f}MB" for s in sizes)
        )


if __name__ == "__main__":
    main()

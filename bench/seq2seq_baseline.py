r"""The peer: a grapheme-level encoder-decoder Transformer (``torch.nn``) with greedy decoding.

What a user would otherwise pick for text-to-text learning, trained on the same
(input, target) pairs as GraphTransformNet and scored on the same held-out
suites (``bench/results_table.py`` builds both and runs both).

.. code-block:: text

    "héllo" --segment (UAX #29)--> [h, é, l, l, o] --vocabulary--> ids [S]  (+ <eos>)
      -> shared embedding * sqrt(d) + positions                    [B, S, d]
      -> nn.TransformerEncoder (pre-norm)                         memory [B, S, d]
    <bos> y_1 .. y_{t-1}
      -> shared embedding * sqrt(d) + positions
      -> nn.TransformerDecoder (causal self-attention, cross-attention on memory)
      -> linear tied to the embedding                              logits [B, T, |V|]

Vocabulary: ``<pad> <bos> <eos> <unk>`` and every grapheme cluster of the
training pairs (inputs and targets). A grapheme never seen in training maps to
``<unk>`` and can never be emitted: a vocabulary model cannot write a grapheme
it never saw, whereas GraphTransformNet copies it from its input.
:func:`train_and_evaluate` reports, per suite, the fraction of pairs that hold
such a grapheme (``unknown_fraction``), so the cause of a zero is visible.

Positions. ``"sinusoidal"`` (Vaswani et al. 2017) or ``"learned"`` absolute
positions, added to the embeddings. Absolute positions are known to generalise
badly to longer strings than those trained on; ``max_position_shift = K``
draws, for every training pair, one offset :math:`k \sim U\{0..K\}` added to
every source and target position (SHAPE, Kiyono et al. 2021), so positions up
to :math:`L_{\max} + K` are seen in training and attention learns to rely on
position *differences*. Evaluation uses offset 0.

Training. Teacher forcing, cross-entropy on the target graphemes and the final
``<eos>`` (optionally label-smoothed), AdamW, gradient clipping, batches of
``batch_size`` pairs reshuffled every epoch, and a learning rate that rises
linearly for the first ``warmup`` fraction of the budget and then follows a
cosine to zero. The budget is either a number of epochs or a number of CPU
seconds (``time.process_time`` of this process: every thread, training steps
only); with a CPU budget the schedule's progress is the fraction of the CPU
seconds used, so the run always ends at the end of its schedule. An epoch budget
is bit-reproducible; a CPU budget is not (how many steps fit depends on the
machine), so results report the epochs a CPU budget gave.

Decoding. Greedy, batched: the most likely grapheme at each step until every
sequence has emitted ``<eos>`` or ``2 S + 8`` steps have passed.

Command line (the rows and suites of ``bench/results_table.py``)::

    python bench/seq2seq_baseline.py copy --cpu-seconds 60
    python bench/seq2seq_baseline.py math_l1 --epochs 200 --preset math
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.command_line import OneLineParser
from bench.table_rows import ROWS, STRING_ROWS, row_data
from pyg_grapheme.data import TextPair, generate
from pyg_grapheme.input_units import input_splitter
from pyg_grapheme.metrics import exact_match
from pyg_grapheme.models.output_units import OutputUnits

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "PRESETS",
    "SPECIALS",
    "UNK",
    "BaselineConfig",
    "GraphemeVocabulary",
    "Seq2SeqTransformer",
    "parameter_count",
    "train",
    "train_and_evaluate",
    "transform_text",
]

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(len(SPECIALS))
UNK_TEXT = "\ufffd"
"""How a decoded ``<unk>`` is written (U+FFFD REPLACEMENT CHARACTER): never equal to a target."""


# --------------------------------------------------------------------------- vocabulary
@dataclass(frozen=True)
class GraphemeVocabulary:
    """Symbols <-> ids; ids ``0..3`` are :data:`SPECIALS`, then ``graphemes`` in order.

    Inputs are read as grapheme clusters, or as code points (``input_units``, the units
    GraphTransformNet reads: :mod:`pyg_grapheme.input_units`); targets as the output units of
    :class:`~pyg_grapheme.models.output_units.OutputUnits` (``target_units``), the same
    units GraphTransformNet writes, so with ``"tokens"`` a phone such as ``t͡s`` is one
    symbol and outputs are joined by single spaces.

    Args:
        graphemes: distinct symbols: grapheme clusters and target units (sorted by
            :meth:`from_pairs`).
        target_units: ``"graphemes"`` or ``"tokens"``.
        input_units: ``"graphemes"`` or ``"codepoints"``.
    """

    graphemes: tuple[str, ...]
    target_units: str = "graphemes"
    input_units: str = "graphemes"

    def __post_init__(self) -> None:
        if len(set(self.graphemes)) != len(self.graphemes):
            raise ValueError("GraphemeVocabulary: duplicate graphemes")
        object.__setattr__(
            self, "_index", {g: i + len(SPECIALS) for i, g in enumerate(self.graphemes)}
        )

    @classmethod
    def from_pairs(
        cls,
        pairs: Sequence[TextPair],
        target_units: str = "graphemes",
        input_units: str = "graphemes",
    ) -> GraphemeVocabulary:
        """Every unit of the inputs (``input_units``) and every unit of the targets, sorted."""
        split = OutputUnits(target_units).split
        read = input_splitter(input_units)
        seen: set[str] = set()
        for pair in pairs:
            seen.update(read(pair.input))
            seen.update(split(pair.target))
        return cls(tuple(sorted(seen)), target_units, input_units)

    def encode_target(self, text: str) -> list[int]:
        """Ids of ``text``'s output units; an unseen unit is :data:`UNK`."""
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        return [index.get(u, UNK) for u in OutputUnits(self.target_units).split(text)]

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.graphemes)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s input units (grapheme clusters or code points); an unseen one is
        :data:`UNK`."""
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        return [index.get(g, UNK) for g in input_splitter(self.input_units)(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` up to the first :data:`EOS` (units joined as the target units
        are); pads and ``<bos>`` are skipped, ``<unk>`` is written :data:`UNK_TEXT`."""
        out: list[str] = []
        for i in ids:
            if i == EOS:
                break
            if i == UNK:
                out.append(UNK_TEXT)
            elif i >= len(SPECIALS):
                out.append(self.graphemes[i - len(SPECIALS)])
        return OutputUnits(self.target_units).join(out)

    def has_unknown(self, text: str, target: bool = False) -> bool:
        """Whether ``text`` holds a grapheme cluster (a unit, for a ``target``) outside the
        vocabulary."""
        return UNK in (self.encode_target(text) if target else self.encode(text))


# --------------------------------------------------------------------------- model
def sinusoidal_positions(positions: Tensor, dim: int) -> Tensor:
    r"""Vaswani et al.'s encoding :math:`[\sin(p\,\omega_i), \cos(p\,\omega_i)]_i`,
    :math:`\omega_i = 10000^{-2i/d}`.

    Args:
        positions: ``LongTensor[B, T]``.
        dim: even width ``d``.

    Returns:
        ``[B, T, d]``, sines in the even channels and cosines in the odd ones.
    """
    frequency = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device)
        * (-math.log(10000.0) / dim)
    )
    angle = positions.unsqueeze(-1).float() * frequency  # [B, T, d/2]
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer over grapheme ids, built from ``torch.nn`` layers.

    Pre-norm layers (``norm_first=True``, final LayerNorms), GELU feed-forward
    blocks, one embedding shared by source, target and output projection
    (``output = h E^T + b``).

    Args:
        vocab_size (int): ``|V|``, specials included.
        d_model (int, optional): Width ``d``. (default: :obj:`64`)
        heads (int, optional): Attention heads. (default: :obj:`4`)
        encoder_layers (int, optional): Encoder layers. (default: :obj:`1`)
        decoder_layers (int, optional): Decoder layers. (default: :obj:`1`)
        feedforward (int, optional): Hidden width of the feed-forward blocks. (default: :obj:`256`)
        dropout (float, optional): Dropout in attention, feed-forward blocks and on the
            embedded inputs. (default: :obj:`0.1`)
        positions (str, optional): ``"sinusoidal"`` or ``"learned"``. (default: :obj:`"sinusoidal"`)
        max_positions (int, optional): Size of the learned position table (positions past
            it are an error). (default: :obj:`256`)
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        heads: int = 4,
        encoder_layers: int = 1,
        decoder_layers: int = 1,
        feedforward: int = 256,
        dropout: float = 0.1,
        positions: str = "sinusoidal",
        max_positions: int = 256,
    ) -> None:
        super().__init__()
        if positions not in ("sinusoidal", "learned"):
            raise ValueError(f"positions must be 'sinusoidal' or 'learned', got {positions!r}")
        if d_model % 2 or d_model % heads:
            raise ValueError(f"d_model {d_model} must be even and divisible by heads {heads}")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.positions = positions
        self.max_positions = max_positions
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        self.position_table = (
            nn.Embedding(max_positions, d_model) if positions == "learned" else None
        )
        self.drop = nn.Dropout(dropout)

        def layer_kwargs() -> dict[str, Any]:
            return dict(
                d_model=d_model,
                nhead=heads,
                dim_feedforward=feedforward,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )

        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer_kwargs()),
            encoder_layers,
            norm=nn.LayerNorm(d_model),
            enable_nested_tensor=False,  # not supported with norm_first; silences the warning
        )
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer_kwargs()), decoder_layers, norm=nn.LayerNorm(d_model)
        )
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))
        nn.init.normal_(self.embed.weight, std=d_model**-0.5)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()
        if self.position_table is not None:
            nn.init.normal_(self.position_table.weight, std=0.02)

    def _embed(self, ids: Tensor, offset: Tensor | None) -> Tensor:
        """``[B, T]`` ids -> ``[B, T, d]`` embedded ids plus positions ``offset + 0..T-1``."""
        positions = torch.arange(ids.size(1), device=ids.device).expand_as(ids)
        if offset is not None:
            positions = positions + offset.unsqueeze(1)
        if self.position_table is not None:
            if int(positions.max()) >= self.max_positions:
                raise ValueError(
                    f"position {int(positions.max())} is past the learned table "
                    f"(max_positions={self.max_positions})"
                )
            pos = self.position_table(positions)
        else:
            pos = sinusoidal_positions(positions, self.d_model)
        return self.drop(self.embed(ids) * math.sqrt(self.d_model) + pos)

    def encode(self, src: Tensor, offset: Tensor | None = None) -> Tensor:
        """``src`` ``LongTensor[B, S]`` (``<pad>``-padded) -> memory ``[B, S, d]``."""
        return self.encoder(self._embed(src, offset), src_key_padding_mask=src == PAD)

    def decode(
        self, memory: Tensor, src: Tensor, tgt_in: Tensor, offset: Tensor | None = None
    ) -> Tensor:
        """Logits ``[B, T, |V|]`` of the next grapheme after each prefix of ``tgt_in [B, T]``."""
        length = tgt_in.size(1)
        # Boolean like the padding masks (True = may not attend): a step sees no later step.
        causal = torch.ones(length, length, dtype=torch.bool, device=tgt_in.device).triu(1)
        h = self.decoder(
            self._embed(tgt_in, offset),
            memory,
            tgt_mask=causal,
            tgt_is_causal=True,
            tgt_key_padding_mask=tgt_in == PAD,
            memory_key_padding_mask=src == PAD,
        )
        return h @ self.embed.weight.T + self.output_bias

    def forward(self, src: Tensor, tgt_in: Tensor, offset: Tensor | None = None) -> Tensor:
        """Teacher-forced logits ``[B, T, |V|]`` (``tgt_in`` starts with ``<bos>``)."""
        return self.decode(self.encode(src, offset), src, tgt_in, offset)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, max_length: int | None = None) -> Tensor:
        """Most likely grapheme at each step, for a batch.

        Args:
            src: ``LongTensor[B, S]``, each row ending in ``<eos>`` then ``<pad>``.
            max_length: most steps (default ``2 S + 8``).

        Returns:
            ``LongTensor[B, T]``, ``T <= max_length``, without the leading ``<bos>``; after a
            row's first ``<eos>`` it holds ``<pad>``.
        """
        steps = 2 * src.size(1) + 8 if max_length is None else max_length
        memory = self.encode(src)
        out = torch.full((src.size(0), 1), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        for _ in range(steps):
            # Finished rows are fed <pad>: masked as keys, so they change nothing else.
            token = self.decode(memory, src, out)[:, -1].argmax(-1)
            token = token.masked_fill(done, PAD)
            out = torch.cat([out, token.unsqueeze(1)], dim=1)
            done |= token == EOS
            if bool(done.all()):
                break
        return out[:, 1:]

    @torch.no_grad()
    def beam_decode(self, src: Tensor, beam: int, max_length: int | None = None) -> Tensor:
        """Beam search: the ``beam`` most likely prefixes of each row are kept after every
        step; a prefix that emits ``<eos>`` is finished and leaves the beam. A row stops
        once its best finished score (sum of log-probabilities) is at least every live
        one (scores only fall), or after ``max_length`` steps. ``beam=1`` is
        :meth:`greedy_decode`.

        Returns:
            ``LongTensor[B, T]``: the best finished sequence of each row (its ``<eos>``
            included; ``<pad>`` after it), or the best live one if none finished.
        """
        if beam < 1:
            raise ValueError(f"beam must be >= 1, got {beam}")
        if beam == 1:
            return self.greedy_decode(src, max_length)
        steps = 2 * src.size(1) + 8 if max_length is None else max_length
        batch, device = src.size(0), src.device
        memory = self.encode(src).repeat_interleave(beam, dim=0)
        source = src.repeat_interleave(beam, dim=0)
        out = torch.full((batch * beam, 1), BOS, dtype=torch.long, device=device)
        score = torch.full((batch, beam), float("-inf"), device=device)
        score[:, 0] = 0.0
        best_done = torch.full((batch,), float("-inf"), device=device)
        best_seq: list[list[int] | None] = [None] * batch
        for _ in range(steps):
            logp = torch.log_softmax(self.decode(memory, source, out)[:, -1], dim=-1)
            vocab = logp.size(-1)
            total = (score.view(-1, 1) + logp).view(batch, beam * vocab)
            top, index = total.topk(beam, dim=1)
            origin = index // vocab + torch.arange(batch, device=device).unsqueeze(1) * beam
            token = index % vocab
            out = torch.cat([out.index_select(0, origin.view(-1)), token.view(-1, 1)], dim=1)
            finished = (token == EOS) & torch.isfinite(top)
            for b, k in finished.nonzero().tolist():
                if float(top[b, k]) > float(best_done[b]):
                    best_done[b] = top[b, k]
                    best_seq[b] = out[b * beam + k, 1:].tolist()
            score = torch.where(finished, float("-inf"), top)
            if bool((best_done >= score.amax(dim=1)).all()):
                break
        rows = []
        for b in range(batch):
            seq = best_seq[b]
            if seq is None:
                seq = out[b * beam + int(score[b].argmax()), 1:].tolist()
            rows.append(seq)
        width = max(len(r) for r in rows)
        return torch.tensor([r + [PAD] * (width - len(r)) for r in rows], dtype=torch.long)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(vocab={self.vocab_size}, d_model={self.d_model}, "
            f"encoder_layers={len(self.encoder.layers)}, "
            f"decoder_layers={len(self.decoder.layers)}, positions={self.positions})"
        )


def parameter_count(
    vocab_size: int,
    d_model: int,
    feedforward: int,
    encoder_layers: int,
    decoder_layers: int,
    positions: str = "sinusoidal",
    max_positions: int = 256,
) -> int:
    r"""Trainable parameters of :class:`Seq2SeqTransformer`, in closed form.

    With attention :math:`4d^2 + 4d` (in/out projections and biases), a feed-forward
    block :math:`2df + f + d` and a LayerNorm :math:`2d`:

    .. math::
        \text{enc} = 4d^2 + 2df + f + 9d, \qquad
        \text{dec} = 8d^2 + 2df + f + 15d,

        N = |V| d + |V| + L_e\,\text{enc} + L_d\,\text{dec} + 4d
            \;(+\, P d \text{ for learned positions}),

    where :math:`|V| d` is the shared embedding, :math:`|V|` the output bias and
    :math:`4d` the two final LayerNorms.
    """
    d, f = d_model, feedforward
    encoder = 4 * d * d + 2 * d * f + f + 9 * d
    decoder = 8 * d * d + 2 * d * f + f + 15 * d
    table = max_positions * d if positions == "learned" else 0
    return (
        vocab_size * d
        + vocab_size
        + encoder_layers * encoder
        + decoder_layers * decoder
        + 4 * d
        + table
    )


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class BaselineConfig:
    """Model and optimisation settings of the baseline (see the module docstring).

    ``warmup`` is a fraction of the budget (epochs or CPU seconds).
    """

    d_model: int = 64
    heads: int = 4
    encoder_layers: int = 1
    decoder_layers: int = 1
    feedforward: int = 256
    dropout: float = 0.1
    positions: str = "sinusoidal"
    max_position_shift: int = 8
    lr: float = 3e-3
    warmup: float = 0.05
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    batch_size: int = 32
    gradient_clip: float = 1.0


PRESETS: dict[str, BaselineConfig] = {
    "string": BaselineConfig(
        d_model=128, encoder_layers=2, decoder_layers=2, feedforward=512, lr=1e-3
    ),
    "math": BaselineConfig(
        d_model=128,
        encoder_layers=2,
        decoder_layers=2,
        feedforward=768,
        max_position_shift=0,  # held-out problems are as long as the training ones
        lr=1e-3,
        weight_decay=0.1,
    ),
    # Words to phones (bench/g2p.py): test words are as long as the training ones.
    "g2p": BaselineConfig(
        d_model=128,
        encoder_layers=2,
        decoder_layers=2,
        feedforward=512,
        dropout=0.2,
        max_position_shift=0,
        lr=1e-3,
        label_smoothing=0.1,
    ),
}
"""Sizes near our configs' (``tests/test_seq2seq_baseline.py`` checks within 25%):
``string`` near ``conf/default.yaml``'s GraphTransformNet (hidden 128), ``math`` near
``conf/math_l1.yaml``'s (gated feed-forward, run features), ``g2p`` near
``conf/g2p.yaml``'s. Position shifts where held-out strings are longer than the training
ones (string tasks), label smoothing and dropout 0.2 for words to phones, as the 2020
Transformer baseline of the G2P task used."""


def _batch(sequences: Sequence[list[int]], prefix: int | None = None) -> Tensor:
    """Pad id lists into ``LongTensor[B, T]``; ``prefix`` is put in front of each."""
    rows = [([prefix] if prefix is not None else []) + list(s) for s in sequences]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows], dtype=torch.long)


def _learning_rate_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over ``[0, warmup)``, then a cosine from 1 to 0 at progress 1."""
    if progress < warmup:
        return (progress + 1e-3) / warmup
    rest = (min(progress, 1.0) - warmup) / max(1.0 - warmup, 1e-9)
    return 0.5 * (1.0 + math.cos(math.pi * rest))


@dataclass
class TrainedBaseline:
    """A trained model with its vocabulary and what the training cost."""

    model: Seq2SeqTransformer
    vocabulary: GraphemeVocabulary
    cpu_seconds: float
    epochs: float
    steps: int
    final_loss: float


def train(
    pairs: Sequence[TextPair],
    *,
    epochs: int | None = None,
    cpu_seconds: float | None = None,
    seed: int = 0,
    config: BaselineConfig = PRESETS["string"],
    augment: Callable[[TextPair], TextPair] | None = None,
    target_units: str = "graphemes",
    input_units: str = "graphemes",
    select_on: Sequence[TextPair] | None = None,
    selections: int = 10,
) -> TrainedBaseline:
    """Train the baseline on ``pairs`` for ``epochs`` epochs or ``cpu_seconds`` CPU seconds.

    Args:
        pairs: training pairs; the vocabulary is built from them.
        epochs: whole passes over ``pairs`` (exactly one of ``epochs``, ``cpu_seconds``).
        cpu_seconds: CPU time (``time.process_time``, all threads) of the training steps.
        seed: seeds the initialisation, the shuffling, dropout and the position shifts.
        config: sizes and optimiser settings.
        augment: rewrites a training pair each time it is drawn (e.g. the commutative
            operand swap our math config uses); it owns its random state.
        target_units: ``"graphemes"`` or ``"tokens"`` (:class:`GraphemeVocabulary`).
        input_units: ``"graphemes"`` or ``"codepoints"`` (:class:`GraphemeVocabulary`).
        select_on: development pairs: the weights returned are those of highest greedy
            exact match on them among ``selections`` evenly spaced points of the budget
            (and its end), as a checkpoint chosen on a development set would be. Their
            decoding is not counted in the CPU budget.
        selections: how many points of the budget are scored on ``select_on``.
    """
    if (epochs is None) == (cpu_seconds is None):
        raise ValueError("give exactly one budget: epochs or cpu_seconds")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if cpu_seconds is not None and not cpu_seconds > 0:
        raise ValueError(f"cpu_seconds must be > 0, got {cpu_seconds}")
    if not pairs:
        raise ValueError("no training pairs")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    vocabulary = GraphemeVocabulary.from_pairs(pairs, target_units, input_units)
    model = Seq2SeqTransformer(
        len(vocabulary),
        d_model=config.d_model,
        heads=config.heads,
        encoder_layers=config.encoder_layers,
        decoder_layers=config.decoder_layers,
        feedforward=config.feedforward,
        dropout=config.dropout,
        positions=config.positions,
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=config.label_smoothing)
    steps_per_epoch = math.ceil(len(pairs) / config.batch_size)
    total_steps = None if epochs is None else epochs * steps_per_epoch
    encoded = [(vocabulary.encode(p.input), vocabulary.encode_target(p.target)) for p in pairs]

    model.train()
    start = time.process_time()
    paused = 0.0  # CPU seconds spent scoring development pairs, outside the budget
    step, loss_value, progress = 0, float("nan"), 0.0
    best_score, best_state, next_selection = -1.0, None, 1.0 / max(selections, 1)

    def select() -> None:
        nonlocal best_score, best_state, paused
        began = time.process_time()
        model.eval()
        trained_now = TrainedBaseline(model, vocabulary, 0.0, 0.0, step, loss_value)
        outputs = transform_text(trained_now, [p.input for p in select_on or ()])
        wanted = [OutputUnits(target_units).canonical(p.target) for p in select_on or ()]
        score = exact_match(outputs, wanted)
        if score > best_score:
            best_score = score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.train()
        paused += time.process_time() - began

    while progress < 1.0:
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for first in range(0, len(order), config.batch_size):
            chosen = order[first : first + config.batch_size]
            if augment is None:
                batch = [encoded[i] for i in chosen]
            else:
                batch = [
                    (vocabulary.encode(q.input), vocabulary.encode_target(q.target))
                    for q in (augment(pairs[i]) for i in chosen)
                ]
            src = _batch([[*s, EOS] for s, _ in batch])
            tgt_in = _batch([t for _, t in batch], prefix=BOS)
            tgt_out = _batch([[*t, EOS] for _, t in batch])
            offset = None
            if config.max_position_shift > 0:
                offset = torch.randint(0, config.max_position_shift + 1, (len(batch),))
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _learning_rate_factor(progress, config.warmup)
            logits = model(src, tgt_in, offset)
            loss = loss_fn(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.gradient_clip)
            optimizer.step()
            step += 1
            loss_value = float(loss.detach())
            used = time.process_time() - start - paused
            progress = step / total_steps if total_steps is not None else used / cpu_seconds
            if select_on is not None and (progress >= next_selection or progress >= 1.0):
                select()
                next_selection += 1.0 / max(selections, 1)
            if progress >= 1.0:
                break
    model.eval()
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainedBaseline(
        model=model,
        vocabulary=vocabulary,
        cpu_seconds=time.process_time() - start - paused,
        epochs=step / steps_per_epoch,
        steps=step,
        final_loss=loss_value,
    )


def transform_text(
    trained: TrainedBaseline, texts: Sequence[str], batch_size: int = 256, beam: int = 1
) -> list[str]:
    """Outputs of the trained baseline for ``texts`` (the model's ``transform_text``):
    greedy, or beam search with ``beam > 1``."""
    outputs: list[str] = []
    for first in range(0, len(texts), batch_size):
        chunk = texts[first : first + batch_size]
        src = _batch([[*trained.vocabulary.encode(t), EOS] for t in chunk])
        ids = trained.model.beam_decode(src, beam)
        outputs.extend(trained.vocabulary.decode(row) for row in ids.tolist())
    return outputs


def train_and_evaluate(
    train_pairs: Sequence[TextPair],
    eval_suites: Mapping[str, Sequence[TextPair]],
    *,
    epochs: int | None = None,
    cpu_seconds: float | None = None,
    seed: int = 0,
    config: BaselineConfig = PRESETS["string"],
    augment: Callable[[TextPair], TextPair] | None = None,
    select_on: Sequence[TextPair] | None = None,
) -> dict[str, Any]:
    """Train on ``train_pairs`` (see :func:`train`; ``select_on``: development pairs that
    choose its weights), then score every suite.

    Returns:
        ``exact_match`` and ``unknown_fraction`` (pairs holding a grapheme outside the
        vocabulary, in input or target) per suite; ``train_cpu_seconds``, ``epochs``
        (completed, may be fractional), ``steps``, ``final_loss``, ``parameters``,
        ``vocabulary_size`` and ``config``.
    """
    torch_threads = torch.get_num_threads()
    trained = train(
        train_pairs,
        epochs=epochs,
        cpu_seconds=cpu_seconds,
        seed=seed,
        config=config,
        augment=augment,
        select_on=select_on,
    )
    scores, unknown = {}, {}
    for name, pairs in eval_suites.items():
        predictions = transform_text(trained, [p.input for p in pairs])
        scores[name] = exact_match(predictions, [p.target for p in pairs])
        unknown[name] = sum(
            trained.vocabulary.has_unknown(p.input) or trained.vocabulary.has_unknown(p.target)
            for p in pairs
        ) / max(len(pairs), 1)
    return {
        "exact_match": scores,
        "unknown_fraction": unknown,
        "train_cpu_seconds": trained.cpu_seconds,
        "epochs": trained.epochs,
        "steps": trained.steps,
        "final_loss": trained.final_loss,
        "parameters": sum(p.numel() for p in trained.model.parameters()),
        "vocabulary_size": len(trained.vocabulary),
        "torch_threads": torch_threads,
        "config": asdict(config),
    }


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and score the baseline on one row of the results table (:mod:`bench.table_rows`)."""
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("row", choices=sorted(ROWS))
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--epochs", type=int, help="train this many epochs")
    budget.add_argument("--cpu-seconds", type=float, help="train this many CPU seconds")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="default: the row's preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kindergarten", help="GRAPHEME's kindergarten JSONL file")
    parser.add_argument(
        "--in-distribution",
        action="store_true",
        help="string rows: also score 300 new Latin strings of the training lengths (1-8)",
    )
    for field, default in asdict(BaselineConfig()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(default), default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        data = row_data(args.row, kindergarten=args.kindergarten)
    except (OSError, ValueError) as error:
        print(f"seq2seq_baseline: {args.row}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.in_distribution and args.row in STRING_ROWS:
        # Tells "did not learn the task" apart from "does not reach longer strings".
        seen = {p.input for p in data.train}
        data.suites["latin_in"] = generate(args.row, 300, seed=103, max_len=8, exclude=seen)
    config = PRESETS[args.preset or data.preset]
    overrides = {f: getattr(args, f) for f in asdict(config) if getattr(args, f) is not None}
    config = replace(config, **overrides)
    result = train_and_evaluate(
        data.train,
        data.suites,
        epochs=args.epochs,
        cpu_seconds=args.cpu_seconds,
        seed=args.seed,
        config=config,
        augment=data.augment,
    )
    print(
        "RESULT",
        args.row,
        " ".join(f"{k}={v:.4f}" for k, v in result["exact_match"].items()),
        f"cpu_s={result['train_cpu_seconds']:.1f} epochs={result['epochs']:.1f}",
        f"params={result['parameters']}",
        flush=True,
    )
    return result


if __name__ == "__main__":
    main()

"""The seq2seq baseline (bench/seq2seq_baseline.py), the results table's rows
(bench/table_rows.py) and its row runner (bench/results_table.py)."""

from __future__ import annotations

import sys

import pytest
import torch
import yaml

from bench.ablation import held_out_scores
from bench.results_table import main, markdown_table, run_row
from bench.seq2seq_baseline import (
    BOS,
    EOS,
    PAD,
    PRESETS,
    UNK,
    UNK_TEXT,
    BaselineConfig,
    GraphemeVocabulary,
    Seq2SeqTransformer,
    parameter_count,
    train,
    train_and_evaluate,
)
from bench.table_rows import CONF_DIR, MATH_SWAP, commutative_swap, row_data
from lightning_modules.datamodule import GraphemeDataModule
from pyg_grapheme.data import TextPair, generate
from pyg_grapheme.data.alphabets import ALPHABETS
from pyg_grapheme.text import segment


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------- vocabulary
def test_vocabulary_is_grapheme_clusters_with_unk():
    pairs = [TextPair("ba", "a"), TextPair("e\u0301", "👍🏽")]
    vocab = GraphemeVocabulary.from_pairs(pairs)
    # Sorted clusters after the four specials; "é" (decomposed) and "👍🏽" are one token each.
    assert vocab.graphemes == ("a", "b", "e\u0301", "👍🏽")
    assert len(vocab) == 8
    assert vocab.encode("abe\u0301👍🏽") == [4, 5, 6, 7]
    assert vocab.encode("aλb") == [4, UNK, 5]
    assert vocab.has_unknown("aλ") and not vocab.has_unknown("ab")
    assert vocab.decode([BOS, 5, UNK, 4, PAD, EOS, 4]) == f"b{UNK_TEXT}a"
    with pytest.raises(ValueError, match="duplicate"):
        GraphemeVocabulary(("a", "a"))


def test_vocabulary_reads_code_points_when_our_model_does():
    """With ``input_units="codepoints"`` the peer reads what our model reads: "é"
    (decomposed) is two symbols, and a new cluster of known code points has no unknown."""
    pairs = [TextPair("ba", "a"), TextPair("e\u0301", "x")]
    vocab = GraphemeVocabulary.from_pairs(pairs, "graphemes", "codepoints")
    assert vocab.graphemes == ("a", "b", "e", "x", "\u0301")
    assert vocab.encode("be\u0301") == [5, 6, 8]
    assert not vocab.has_unknown("a\u0301")  # a cluster training never showed
    assert GraphemeVocabulary.from_pairs(pairs).has_unknown("a\u0301")


# --------------------------------------------------------------------------- size
@pytest.mark.parametrize(
    "vocab, d, f, enc, dec, positions",
    [(30, 64, 256, 1, 1, "sinusoidal"), (17, 128, 448, 2, 2, "sinusoidal"),
     (9, 32, 48, 3, 2, "learned")],
)  # fmt: skip
def test_parameter_count_formula(vocab, d, f, enc, dec, positions):
    model = Seq2SeqTransformer(vocab, d, 4, enc, dec, f, positions=positions, max_positions=50)
    counted = sum(p.numel() for p in model.parameters())
    assert counted == parameter_count(vocab, d, f, enc, dec, positions, max_positions=50)


def test_presets_are_sized_like_our_configs(tmp_path, monkeypatch):
    """Baseline sizes, stated exactly, within 25% of our model's on the same rows' configs."""
    from lightning_modules.fit import GraphemeCLI
    from lightning_modules.module import GraphTransformModule

    def ours(config: str) -> int:
        monkeypatch.setattr(sys, "argv", ["fit"])
        cli = GraphemeCLI(
            GraphTransformModule, GraphemeDataModule, run=False,
            args=["--config", str(CONF_DIR / config), "--trainer.logger", "false"],
            parser_kwargs={"default_config_files": [str(CONF_DIR / "default.yaml")]},
        )  # fmt: skip
        return sum(p.numel() for p in cli.model.net.parameters())

    monkeypatch.chdir(tmp_path)
    string, math = PRESETS["string"], PRESETS["math"]
    # copy's vocabulary: 26 letters + 4 specials; math level 1: digits, "(+-* )" + specials.
    baseline_string = parameter_count(
        30, string.d_model, string.feedforward, string.encoder_layers, string.decoder_layers
    )
    baseline_math = parameter_count(
        20, math.d_model, math.feedforward, math.encoder_layers, math.decoder_layers
    )
    assert (baseline_string, baseline_math) == (930078, 1191956)
    assert len(GraphemeVocabulary.from_pairs(row_data("math_l1").train)) == 20
    for baseline, config in ((baseline_string, "copy.yaml"), (baseline_math, "math_l1.yaml")):
        assert 0.8 <= baseline / ours(config) <= 1.25, config


# --------------------------------------------------------------------------- decoding
def test_greedy_decode_shapes_and_padding_after_eos():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(6, d_model=16, heads=2, feedforward=32).eval()
    src = torch.tensor([[4, 5, 4, EOS], [5, EOS, PAD, PAD], [EOS, PAD, PAD, PAD]])
    with torch.no_grad():
        model.output_bias[4] = 1e4  # always "the first grapheme": never stops
    out = model.greedy_decode(src)
    assert out.shape == (3, 2 * 4 + 8) and bool((out == 4).all())
    assert model.greedy_decode(src, max_length=3).shape == (3, 3)
    with torch.no_grad():
        model.output_bias[4] = 0.0
        model.output_bias[EOS] = 1e4  # stops at once: one step, all <eos>
    assert model.greedy_decode(src).tolist() == [[EOS], [EOS], [EOS]]
    logits = model(src, torch.tensor([[BOS, 4], [BOS, 5], [BOS, PAD]]))
    assert logits.shape == (3, 2, 6)


# --------------------------------------------------------------------------- training
def test_learns_copy_on_unseen_strings():
    """400 digit strings of 1-6 clusters, 30 epochs: >= 0.95 exact on 200 new strings."""
    train_pairs = generate("copy", 400, seed=0, alphabet="digits", max_len=6)
    held_out = generate(
        "copy", 200, seed=1, alphabet="digits", max_len=6, exclude={p.input for p in train_pairs}
    )
    config = BaselineConfig(d_model=32, feedforward=64, dropout=0.0, max_position_shift=0,
                            batch_size=16)  # fmt: skip
    result = train_and_evaluate(train_pairs, {"held_out": held_out}, epochs=30, config=config)
    print(f"\ncopy (digits): held-out {result['exact_match']['held_out']:.3f}, "
          f"loss {result['final_loss']:.4f}, {result['train_cpu_seconds']:.1f} CPU s")  # fmt: skip
    assert result["exact_match"]["held_out"] >= 0.95
    assert result["final_loss"] < 0.05
    assert result["steps"] == 30 * 25 and result["epochs"] == 30
    assert result["parameters"] == parameter_count(14, 32, 64, 1, 1)


def test_unseen_graphemes_are_unk_and_never_emitted():
    train_pairs = generate("copy", 64, seed=0, alphabet="latin", max_len=4)
    suites = {
        "greek": generate("copy", 20, seed=2, alphabet="greek", max_len=4),
        "latin": generate("copy", 20, seed=2, alphabet="latin", max_len=4),
    }
    result = train_and_evaluate(train_pairs, suites, epochs=1)
    assert result["unknown_fraction"] == {"greek": 1.0, "latin": 0.0}
    assert result["exact_match"]["greek"] == 0.0


def test_budgets():
    pairs = generate("copy", 64, seed=0, alphabet="digits", max_len=4)
    for bad in ({}, {"epochs": 1, "cpu_seconds": 1.0}, {"epochs": 0}, {"cpu_seconds": -1.0}):
        with pytest.raises(ValueError):
            train(pairs, **bad)
    trained = train(pairs, cpu_seconds=0.5, config=BaselineConfig(d_model=16, feedforward=32))
    # Stops at the first step past the budget: past it, by less than a few steps.
    assert 0.5 <= trained.cpu_seconds < 1.5
    assert trained.epochs == trained.steps / 2


# --------------------------------------------------------------------------- rows and suites
class _Oracle:
    """A stand-in model: records what it is asked and answers from known pairs."""

    def __init__(self, suites: dict[str, list[TextPair]]) -> None:
        self.answers = {p.input: p.target for pairs in suites.values() for p in pairs}
        self.asked: list[list[str]] = []

    def transform_text(self, texts: list[str]) -> list[str]:
        self.asked.append(list(texts))
        return [self.answers[t] for t in texts]


@pytest.mark.parametrize("task", ["copy", "dedupe"])
def test_rows_score_the_ablations_held_out_suites(task):
    """The results table and bench/ablation.py ask the same inputs in the same order, and
    answering with the row's targets scores 1 everywhere; the suites are held out: 300
    Latin strings of length class 9-16 (twice the training's 1-8; the class is the
    input's length for copy, the target's for dedupe) none of which is a training input,
    and 200 strings of class 1-8 in each script absent from training."""
    data = row_data(task)
    seen = {p.input for p in data.train}
    oracle = _Oracle(data.suites)
    scores = held_out_scores(oracle, task, seen, max_len=8)
    assert oracle.asked == [[p.input for p in pairs] for pairs in data.suites.values()]
    assert scores == dict.fromkeys(data.suites, 1.0)
    assert {name: len(pairs) for name, pairs in data.suites.items()} == {
        "latin_2x": 300, "greek": 200, "cyrillic": 200, "emoji": 200,
    }  # fmt: skip
    assert not seen & {p.input for p in data.suites["latin_2x"]}
    for name, pairs in data.suites.items():
        lengths = {p.meta["length"] for p in pairs}
        assert lengths == {len(segment(p.input if task == "copy" else p.target)) for p in pairs}
        assert lengths <= (set(range(9, 17)) if name == "latin_2x" else set(range(1, 9))), name
        script = set(ALPHABETS["latin" if name == "latin_2x" else name])
        letters = {g for p in pairs for g in segment(p.input) if not g.isspace()}
        assert letters <= script, name


@pytest.mark.parametrize("row", ["copy", "squeeze_spaces", "math_l1"])
def test_row_pairs_are_the_config_pairs(row):
    """A row trains on exactly what its conf/ file generates (default.yaml + the row's)."""
    data_conf = yaml.safe_load((CONF_DIR / "default.yaml").read_text())["data"]
    config = yaml.safe_load((CONF_DIR / f"{row}.yaml").read_text())
    data_conf.update(config["data"])
    module = GraphemeDataModule(**data_conf)
    data = row_data(row)
    # Math rows split their development problems off the end of the config's pairs.
    trained = [*data.train, *data.val] if row.startswith("math") else data.train
    assert [(p.input, p.target) for p in trained] == [
        (p.input, p.target) for p in module.train_pairs
    ]
    # The config validates on what the row scores: the string rows' development strings,
    # the math rows' 240 held-out problems (the row chooses on its development set).
    scored = data.suites["held_out"] if row.startswith("math") else data.val
    assert [(p.input, p.target) for p in scored] == [(p.input, p.target) for p in module.val_pairs]
    if row == "math_l1":
        assert list(data.suites) == ["held_out"] and len(data.val) == 96
        assert MATH_SWAP[1] == data_conf["swap_commutative"]


def test_commutative_swap_keeps_held_out_inputs_out():
    swap = commutative_swap(1.0, exclude={"(+ 4 3)"})
    assert swap(TextPair("(* 2 5)", "10")).input == "(* 5 2)"
    assert swap(TextPair("(+ 3 4)", "7")).input == "(+ 3 4)"  # its mirror is held out
    assert swap(TextPair("(- 3 4)", "-1")).input == "(- 3 4)"
    assert swap(TextPair("hello", "hello")).input == "hello"


def test_row_runner_baseline_smoke():
    result = run_row("copy", models=("baseline",), quick=True)
    assert result.ours is None and result.baseline is not None
    assert result.suites == {"latin_2x": 300, "greek": 200, "cyrillic": 200, "emoji": 200}
    assert result.baseline["epochs"] == 1
    assert {name: result.baseline["unknown_fraction"][name] for name in result.suites} == {
        "latin_2x": 0.0, "greek": 1.0, "cyrillic": 1.0, "emoji": 1.0,
    }  # fmt: skip
    assert any(note.startswith("greek: 100%") for note in result.notes)
    table = markdown_table([result, run_row("kindergarten", models=("baseline",))])
    assert "| copy | copy.yaml | latin_2x | 300 | — |" in table
    assert "- kindergarten: not run: the kindergarten row needs --kindergarten PATH" in table
    no_budget = run_row("drop_last", models=("baseline",))
    assert no_budget.baseline is None and "no budget" in no_budget.notes[0]


def test_our_options_reach_every_row(monkeypatch):
    import bench.results_table as results_table

    seen = []

    def fake_run_ours(data, config, *, epochs=None, quick=False, options=()):
        seen.append(list(options))
        return {
            "exact_match": {name: 0.5 for name in data.suites},
            "train_cpu_seconds": 1.0,
            "epochs": 1,
            "parameters": 1,
        }

    monkeypatch.setattr(results_table, "run_ours", fake_run_ours)
    monkeypatch.setattr(sys, "argv", ["results_table"])
    main(["--rows", "math_l5,copy", "--models", "ours",
          "--ours-options", "--model.net.init_args.dropout 0.2 --trainer.max_epochs '3'"])  # fmt: skip
    extra = ["--model.net.init_args.dropout", "0.2", "--trainer.max_epochs", "3"]
    assert seen == [extra, extra]


@pytest.mark.parametrize(
    "argv, message",
    [(["--rows", "nope"], "unknown rows"), (["--models", "theirs"], "--models"),
     (["--baseline-epochs", "1", "--baseline-cpu-seconds", "1"], "at most one"),
     (["--ours-options", "--model.lr '1"], "--ours-options: No closing quotation")],
)  # fmt: skip
def test_cli_bad_arguments_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_math_train_sets_the_training_problems():
    """More training problems: a tenth of them is the development set, the rest trains,
    and 240 others (drawn with seed 1 around them) are held out and scored once; a count
    the level cannot hold is an error."""
    default = row_data("math_l3")
    assert (len(default.train), len(default.val)) == (864, 96)
    more = row_data("math_l3", math_train=2000)
    assert (len(more.train), len(more.val)) == (1800, 200)
    problems = [p.input for p in more.train + more.val]
    assert len(set(problems)) == 2000
    held_out = {p.input for p in more.suites["held_out"]}
    assert len(held_out) == 240 and not set(problems) & held_out
    with pytest.raises(
        ValueError, match="math level 1 has 1200 problems: it can train on 1 to 960"
    ):
        row_data("math_l1", math_train=961)
    with pytest.raises(ValueError, match="not 0"):
        row_data("math_l3", math_train=0)
    result = run_row("math_l1", models=("baseline",), quick=True, math_train=5000)
    assert result.baseline is None and result.notes[0].startswith("not run: math level 1 has 1200")

"""Source splitting with character spans, ContextCite's masks, and the LASSO surrogate on planted weights."""

from __future__ import annotations

import numpy as np
import pytest

from inseq.sources.methods import leave_one_out_masks, token_source_shares
from inseq.sources.scoring import keep_masks, logit_probability
from inseq.sources.split import join_sources, split_sentences, split_sources, split_spans
from inseq.sources.surrogate import fit_surrogate
from inseq.utils.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mary has a cup. John has a hat!", ["Mary has a cup.", "John has a hat!"]),
        ("Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
        ("The U.S. economy grew. It was 3.5 percent in 2020! Was it? Yes.",
         ["The U.S. economy grew.", "It was 3.5 percent in 2020!", "Was it?", "Yes."]),
        ('He said "Go." Then left.', ['He said "Go."', "Then left."]),
        ("Line one\nLine two. And three", ["Line one", "Line two.", "And three"]),
        ("J. R. R. Tolkien wrote it. Indeed.", ["J. R. R. Tolkien wrote it.", "Indeed."]),
        ("it ends. and goes on. Then stops.", ["it ends. and goes on.", "Then stops."]),
    ],
)  # fmt: skip
def test_sentences(text, expected):
    assert [text[a:b] for a, b in split_sentences(text)] == expected


def test_spans_point_at_the_text_for_every_source_type():
    text = "First line here.\nSecond line. Still second.\n\nNew paragraph  with  spaces."
    for kind, count in (("sentence", 4), ("line", 3), ("paragraph", 2), ("word", 11)):
        sources = split_sources(text, kind)
        assert len(sources) == count, kind
        assert all(text[s.start : s.end] == s.text and s.text == s.text.strip() for s in sources)
    assert split_spans("one\n\ntwo three", "paragraph") == [(0, 3), (5, 14)]


def test_joined_sources_keep_their_spans():
    context, sources = join_sources(["Mary cup", "John hat", "Tom key"], " | ")
    assert context == "Mary cup | John hat | Tom key"
    assert [context[s.start : s.end] for s in sources] == ["Mary cup", "John hat", "Tom key"]
    with pytest.raises(InvalidArgumentError, match=r"Source 1 is empty \(' '\)"):
        join_sources(["a", " "], " ")
    with pytest.raises(InvalidArgumentError, match="has no sources"):
        join_sources([], " ")


def test_masks_are_contextcites():
    masks = keep_masks(5, 7, 0.3, seed=4)
    for i in range(5):
        expected = np.random.RandomState(4 + i).choice([False, True], size=7, p=[0.7, 0.3])
        assert masks[i].tolist() == expected.tolist()
    assert leave_one_out_masks(3).tolist() == [
        [True] * 3,
        [False, True, True],
        [True, False, True],
        [True, True, False],
    ]


def test_logit_probability_of_the_whole_response():
    # two tokens of probability 0.5: p = 0.25, logit = log(1/3)
    assert logit_probability(np.log([[0.5, 0.5]]))[0] == pytest.approx(np.log(0.25 / 0.75))
    assert np.isfinite(logit_probability(np.zeros((1, 3)))).all()  # p = 1 stays finite


@pytest.mark.parametrize("n_tokens", [1, 7])
def test_surrogate_recovers_planted_weights(n_tokens):
    rng = np.random.default_rng(0)
    masks = rng.random((300, 8)) < 0.5
    planted = np.array([3.0, 0.0, -2.0, 0.0, 1.0, 0.5, 0.0, 0.0])
    targets = masks @ planted + 0.7 + rng.normal(0, 0.01, 300)
    weights, bias = fit_surrogate(masks, targets, n_tokens=n_tokens, alpha=1e-4)
    np.testing.assert_allclose(weights, planted, atol=0.02)
    assert bias == pytest.approx(0.7, abs=0.03)


def test_surrogate_regularisation_zeroes_noise_sources():
    rng = np.random.default_rng(1)
    masks = rng.random((64, 20)) < 0.5
    targets = 4.0 * masks[:, 3] + rng.normal(0, 0.05, 64)
    weights, _ = fit_surrogate(masks, targets, n_tokens=1)  # ContextCite's alpha, 0.01
    assert int(np.argmax(weights)) == 3 and weights[3] > 3.5
    assert np.abs(np.delete(weights, 3)).max() < 0.1


def test_a_source_kept_everywhere_gets_no_weight():
    masks = np.random.default_rng(2).random((40, 3)) < 0.5
    masks[:, 1] = True
    weights, _ = fit_surrogate(masks, masks[:, 0] * 2.0, n_tokens=1, alpha=1e-4)
    assert weights[1] == 0 and weights[0] == pytest.approx(2.0, abs=0.01)


def test_tokens_belong_to_the_source_they_overlap_most():
    shares = token_source_shares([(0, 5), (5, 9), (9, 10), (10, 14)], [(1, 8), (10, 14)])
    assert shares.tolist() == [[1, 0], [1, 0], [0, 0], [0, 1]]

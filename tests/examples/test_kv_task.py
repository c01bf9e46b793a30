"""The key-value retrieval task: deterministic, and its answer is determined by exactly one earlier token."""

from __future__ import annotations

import pytest

from inseq.examples.tasks import KV_OPENING, NAMES, VALUES, causal_examples, eval_set, kv_examples


def test_kv_examples_are_deterministic_streams():
    assert kv_examples(30, seed=2) == kv_examples(30, seed=2)
    assert kv_examples(30, seed=2) != kv_examples(30, seed=3)
    assert kv_examples(10, seed=2) == kv_examples(30, seed=2)[:10]
    assert eval_set("kv", 10) == eval_set("kv", 40)[:10]


def test_kv_gold_is_the_value_after_the_queried_key():
    for ex in eval_set("kv", 100):
        words = [w.strip() for w in ex.prompt_words]
        assert ex.prompt.startswith(KV_OPENING + " ") and words[:2] == ["Pairs", ":"]
        pairs, query = words[2:-2], words[-1]
        keys, values = pairs[0::2], pairs[1::2]
        assert words[-2] == "." and len(keys) in (3, 4) and len(set(keys)) == len(keys)
        assert all(k in NAMES for k in keys) and all(v in VALUES for v in values) and len(set(values)) == len(values)
        assert query in keys
        gold = ex.gold_word_index
        assert words[gold] == values[keys.index(query)] == ex.target_words[0].strip()
        assert ex.target_words == (ex.prompt_words[gold], ".") and ex.gold_word_indices[1] is None
        assert ex.prompt[slice(*ex.gold_char_span)] == values[keys.index(query)]
        assert sum(w == words[gold] for w in words) == 1  # the answer occurs once in the prompt
        assert ex.prompt_words[gold - 1] == ex.prompt_words[-1]  # the query is the stored key token itself
    queried = {(ex.gold_word_index - 3) // 2 for ex in eval_set("kv", 100)}
    assert queried == {0, 1, 2, 3}  # any key is queried, not only the first


def test_values_never_occur_in_the_other_tasks():
    words = {w.strip() for ex in causal_examples(200, seed=0) for w in ex.prompt_words + ex.target_words}
    assert not words & set(VALUES)


def test_mix_fractions():
    tasks = [ex.task for ex in causal_examples(300, seed=0, ioi_fraction=1 / 3, kv_fraction=1 / 3)]
    assert tasks.count("kv") == tasks.count("ioi") == tasks.count("copy") == 100
    with pytest.raises(ValueError, match="sum to <= 1"):
        causal_examples(10, ioi_fraction=0.8, kv_fraction=0.5)

"""Behaviour of the inseq 0.7 helpers added for compatibility, checked from first principles.

Each test recomputes what the helper must return by hand (brute force over sorted probabilities, explicit loops)
rather than comparing with the helper's own output.
"""

from __future__ import annotations

import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import inseq
from inseq.utils import (
    aggregate_contiguous,
    aggregate_token_pair,
    aggregate_token_sequence,
    bin_str_to_ndarray,
    cache_results,
    convert_from_safetensor,
    convert_to_safetensor,
    drop_padding,
    euclidean_distance,
    filter_logits,
    find_block_stack,
    find_char_indexes,
    format_input_texts,
    get_adjusted_alignments,
    get_aligned_idx,
    get_front_padding,
    get_post_variable_assignment_hook,
    get_sequences_from_batched_steps,
    gzip_compress,
    gzip_decompress,
    hashodict,
    json_advanced_dump,
    json_advanced_dumps,
    json_advanced_load,
    json_advanced_loads,
    ndarray_to_bin_str,
    normalize,
    optional,
    pad,
    pad_with_nan,
    recursive_get_submodule,
    remap_from_filtered,
    rescale,
    save_to_file,
    top_p_logits_mask,
    validate_indices,
)
from inseq.utils.errors import MissingAlignmentsError
from inseq.utils.typing import TokenWithId

LOGITS = torch.tensor(
    [[1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 3.0, 4.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0, 7.0], [4.0, 5.0, 6.0, 7.0, 8.0]]
)
CONTRAST = torch.tensor(
    [[15.0, 13.0, 11.0, 9.0, 7.0], [13.0, 11.0, 9.0, 7.0, 5.0], [11.0, 9.0, 7.0, 5.0, 3.0], [9.0, 7.0, 5.0, 3.0, 1.0]]
)


def _nucleus(row: list[float], top_p: float) -> set[int]:
    """Brute force: the most probable tokens, added one by one until their mass reaches ``top_p``."""
    probs = [math.exp(x) for x in row]
    total = sum(probs)
    order = sorted(range(len(row)), key=lambda i: -probs[i])
    kept, mass = set(), 0.0
    for i in order:
        if mass >= top_p:
            break
        kept.add(i)
        mass += probs[i] / total
    return kept


# ------------------------------------------------------------------------------------------------- logits filtering


def test_filter_logits_top_k_keeps_the_k_largest_and_masks_the_rest() -> None:
    out = filter_logits(LOGITS, top_k=2)
    for row, filtered in zip(LOGITS.tolist(), out.tolist()):
        largest = sorted(range(5), key=lambda i: -row[i])[:2]
        assert [i for i in range(5) if filtered[i] != float("-inf")] == sorted(largest)
        assert all(filtered[i] == row[i] for i in largest)


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.99])
def test_filter_logits_top_p_keeps_the_smallest_nucleus(top_p: float) -> None:
    out = filter_logits(LOGITS, top_p=top_p)
    for row, filtered in zip(LOGITS.tolist(), out.tolist()):
        assert {i for i in range(5) if filtered[i] != float("-inf")} == _nucleus(row, top_p)


def test_filter_logits_with_contrast_masks_both_where_the_summed_logits_are_outside_the_top_k() -> None:
    original, contrast = filter_logits(LOGITS, contrast_logits=CONTRAST, top_k=2)
    summed = (LOGITS + CONTRAST).tolist()
    for b in range(4):
        keep = sorted(sorted(range(5), key=lambda i: -summed[b][i])[:2])
        assert [i for i in range(5) if original[b, i] != float("-inf")] == keep == [0, 1]
        assert [i for i in range(5) if contrast[b, i] != float("-inf")] == keep
    only_contrast, _ = filter_logits(LOGITS, contrast_logits=CONTRAST, top_k=1, filter_strategy="original")
    assert (only_contrast[:, 4] == LOGITS[:, 4]).all() and only_contrast[:, :4].isinf().all()


def test_top_p_mask_keeps_min_tokens() -> None:
    mask = top_p_logits_mask(torch.tensor([[10.0, 0.0, 0.0]]), top_p=0.5, min_tokens_to_keep=2)
    assert mask.tolist() == [[False, False, True]]


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"top_k": 6}, "top_k.*vocabulary size 5.*6"), ({"top_p": 1.5}, "top_p.*1.5")]
)
def test_filter_logits_rejects_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        filter_logits(LOGITS, **kwargs)


# ------------------------------------------------------------------------------------------------- tensors


def test_normalize_and_rescale_ignore_nan() -> None:
    t = torch.tensor([[1.0, float("nan")], [3.0, 2.0]])
    n = normalize(t, dim=0)
    assert n[:, 0].tolist() == [0.25, 0.75] and math.isnan(n[0, 1]) and n[1, 1] == 1.0
    r = rescale(torch.tensor([[2.0, -8.0], [float("nan"), 4.0]]), dim=1)
    assert r[0].tolist() == [0.25, -1.0] and math.isnan(r[1, 0]) and r[1, 1] == 1.0


def test_euclidean_distance_is_a_scalar_for_vectors_and_one_value_per_row() -> None:
    a, b = torch.randn(8, generator=torch.Generator().manual_seed(0)), torch.zeros(8)
    assert euclidean_distance(a, b).shape == () and torch.isclose(euclidean_distance(a, b), a.norm())
    rows = euclidean_distance(torch.stack([a, a, 2 * a]), torch.stack([b, b, b]))
    assert torch.allclose(rows, torch.stack([a.norm(), a.norm(), 2 * a.norm()]))


def test_aggregate_contiguous_reduces_each_span() -> None:
    t = torch.arange(12.0).view(6, 2)
    out = aggregate_contiguous(t, [(1, 3), (4, 6)], aggregate_fn=lambda x, dim: x.sum(dim))
    expected = torch.stack([t[0], t[1] + t[2], t[3], t[4] + t[5]])
    assert torch.equal(out, expected)
    with pytest.raises(ValueError, match=r"\(2, 9\)"):
        aggregate_contiguous(t, [(2, 9)])


def test_padding_helpers() -> None:
    assert get_front_padding(torch.tensor([[0, 0, 3], [1, 0, 0], [0, 0, 0]])) == [2, 0, 3]
    padded = pad_with_nan(torch.ones(2, 1), dim=1, pad_size=2, front=True)
    assert padded.shape == (2, 3) and padded[:, :2].isnan().all() and (padded[:, 2] == 1).all()
    steps = [torch.full((2, 1), 1.0), torch.full((2, 3), 2.0)]
    seqs = get_sequences_from_batched_steps(steps, padding_dims=[1], stack_dim=2)
    assert len(seqs) == 2 and seqs[0].shape == (3, 2)
    assert seqs[1][0].tolist() == [1.0, 2.0] and seqs[1][1:, 0].isnan().all()
    assert remap_from_filtered((4, 2), torch.tensor([0, 1, 1, 0]), torch.ones(2, 2)).sum(1).tolist() == [0, 2, 2, 0]


def test_validate_indices() -> None:
    scores = torch.zeros(3, 4)
    assert validate_indices(scores) == [0, 1, 2, 3]
    assert validate_indices(scores, indices=-2) == [2]
    assert validate_indices(scores, dim=0, indices=(0, 2)) == [0, 1]
    with pytest.raises(IndexError, match="Index 7 is out of range for a dimension of size 4"):
        validate_indices(scores, indices=[0, 7])


def test_submodule_helpers() -> None:
    net = torch.nn.Module()
    net.encoder = torch.nn.Module()
    net.encoder.layers = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    assert recursive_get_submodule(net, "encoder.layers.1") is net.encoder.layers[1]
    assert recursive_get_submodule(net, "encoder.nope") is None
    assert find_block_stack(net) is net.encoder.layers


@pytest.mark.parametrize(("precision", "atol"), [("float32", 0.0), ("float16", 1e-3)])
def test_safetensor_round_trip(precision: str, atol: float) -> None:
    t = torch.rand(3, 4, generator=torch.Generator().manual_seed(1))
    back = convert_from_safetensor(convert_to_safetensor(t, precision))
    assert back.dtype == torch.float32 and torch.allclose(back, t, atol=atol, rtol=0)
    with pytest.raises(ValueError, match="scores_precision 'float7'"):
        convert_to_safetensor(t, "float7")


# ------------------------------------------------------------------------------------------------- misc


def test_sequence_helpers() -> None:
    assert pad([[1], [2, 3, 4]], 0) == [[1, 0, 0], [2, 3, 4]]
    assert drop_padding(["a", "<pad>", "b"], "<pad>") == ["a", "b"] and drop_padding([1, 2], None) == [1, 2]
    assert find_char_indexes(["a b", "a  b"]) == [[1], [1, 2]]
    assert format_input_texts("x") == (["x"], None)
    with pytest.raises(ValueError, match="ref_texts has 2 texts but texts has 1"):
        format_input_texts(["x"], ["a", "b"])
    with optional(True, torch.no_grad()):
        assert not torch.is_grad_enabled()


def test_token_aggregation_helpers() -> None:
    toks = [TokenWithId("▁Hel", 1), TokenWithId("lo", 2), TokenWithId("▁world", 3)]
    merged = aggregate_token_sequence(toks, [(0, 2)])
    assert [(t.token, t.id) for t in merged] == [("▁Hello", -1), ("▁world", 3)]
    other = [TokenWithId("▁Hel", 1), TokenWithId("p", 4), TokenWithId("▁world", 3)]
    assert [t.token for t in aggregate_token_pair(toks, other)] == ["▁Hel", "lo → p", "▁world"]


def test_binary_helpers(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    for compress in (False, True):
        text = ndarray_to_bin_str(array, do_compress=compress)
        assert text.startswith("b64.gz:" if compress else "b64:")
        assert np.array_equal(bin_str_to_ndarray(text, "C", (3, 4), "float32"), array)
    with pytest.raises(ValueError, match="48 bytes, expected 96"):
        bin_str_to_ndarray(ndarray_to_bin_str(array), "C", (3, 8), "float32")
    assert gzip_decompress(gzip_compress("héllo")) == "héllo".encode()
    assert gzip_compress("x") == gzip_compress("x")  # no timestamp: reproducible
    assert hash(hashodict(a=1, b=2)) == hash(hashodict(a=1, b=2)) != hash(hashodict(b=2, a=1))


def test_save_to_file_writes_paths_and_file_objects(tmp_path: Path) -> None:
    @save_to_file
    def render(obj: object) -> str:
        return json.dumps(obj)

    assert render({"a": 1}, tmp_path / "sub" / "a.json") == '{"a": 1}'
    assert json.loads((tmp_path / "sub" / "a.json").read_text()) == {"a": 1}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.json"]  # no temporary file left behind
    buf = io.BytesIO()
    render([1], buf, compression=True)
    assert gzip_decompress(buf.getvalue()) == b"[1]"


def test_cache_results_uses_json_and_refuses_other_results(tmp_path: Path) -> None:
    calls = []

    @cache_results
    def compute(x: int) -> dict:
        calls.append(x)
        return {"square": x * x}

    assert compute(tmp_path, "c.json", 3) == {"square": 9}
    assert compute(tmp_path, "c.json", 4) == {"square": 9} and calls == [3]  # served from the file
    assert compute(tmp_path, "c.json", 4, overwrite_cache=True) == {"square": 16} and calls == [3, 4]
    assert json.loads((tmp_path / "c.json").read_text()) == {"square": 16}

    @cache_results
    def opaque() -> object:
        return object()

    with pytest.raises(TypeError, match="cache_results stores results as JSON.*'opaque'"):
        opaque(tmp_path, "o.json")
    assert not (tmp_path / "o.json").exists()


def test_cache_folders_follow_the_environment(tmp_path: Path) -> None:
    import subprocess

    code = "from inseq.utils import INSEQ_HOME_CACHE as h, INSEQ_ARTIFACTS_CACHE as a; print(h); print(a)"
    env = {"INSEQ_HOME": str(tmp_path / "home"), "PATH": "", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(tmp_path / "home"), str(tmp_path / "home" / "artifacts")]


# ------------------------------------------------------------------------------------------------- JSON


@dataclass
class _Point:
    x: int
    label: str


def test_json_advanced_round_trips_arrays_tokens_and_allowed_dataclasses(tmp_path: Path) -> None:
    obj = {"ids": np.arange(3), "t": torch.ones(2), "tok": TokenWithId("a", 5), "p": _Point(1, "one")}
    text = json_advanced_dumps(obj, ndarray_compact=True)
    with pytest.raises(ValueError, match=r"Refusing to load instance type \[.*'_Point'\].*cls_lookup_map"):
        json_advanced_loads(text)
    back = json_advanced_loads(text, cls_lookup_map={"_Point": _Point})
    assert back["ids"].tolist() == [0, 1, 2] and back["t"].tolist() == [1.0, 1.0]
    assert back["tok"] == TokenWithId("a", 5) and back["p"] == _Point(1, "one")
    json_advanced_dump({"a": np.zeros((2, 2))}, tmp_path / "x.json.gz", compression=True)
    assert json_advanced_load(tmp_path / "x.json.gz")["a"].shape == (2, 2)


def test_json_advanced_never_imports_a_named_class() -> None:
    evil = json.dumps({"__instance_type__": ["os", "system"], "attributes": {}})
    with pytest.raises(ValueError, match=r"Refusing to load instance type \['os', 'system'\]"):
        json_advanced_loads(evil)


def test_json_advanced_load_reads_attribution_files(tiny_gpt2_path: Path, tmp_path: Path) -> None:
    model = inseq.load_model(str(tiny_gpt2_path), "saliency")
    out = model.attribute("a b c", generation_args={"max_new_tokens": 2}, show_progress=False)
    out.save(tmp_path / "out.json")
    assert json_advanced_load(tmp_path / "out.json") == out
    assert json_advanced_loads(json_advanced_dumps(out)) == out


# ------------------------------------------------------------------------------------------------- alignments, hooks


def test_alignment_helpers() -> None:
    assert get_aligned_idx(1, [(0, 0), (1, 4), (1, 2)]) == 2
    with pytest.raises(MissingAlignmentsError, match="No alignment for original position 3"):
        get_aligned_idx(3, [(0, 0)])
    filled = get_adjusted_alignments([(0, 0), (3, 4)], list("abcd"), list("abxcd"), fill_missing=True)
    assert filled == [(0, 0), (1, 2), (2, 3), (3, 4)]
    assert get_adjusted_alignments([(0, 0), (1, 1)], ["<s>", "a"], ["<s>", "b"], special_tokens=["<s>"]) == [(1, 1)]
    with pytest.raises(ValueError, match=r"Alignment \(0, 9\) is outside the tokens"):
        get_adjusted_alignments([(0, 9)], ["a"], ["b"])
    with pytest.raises(MissingAlignmentsError, match="'auto'"):
        get_adjusted_alignments("auto", ["a"], ["b"])


class _Scaled(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = x + 1
        hidden = hidden * 3
        return hidden.sum()


def test_post_variable_assignment_hook_sees_the_final_value_during_forward() -> None:
    module, seen = _Scaled(), []
    previous = sys.gettrace()
    hook = get_post_variable_assignment_hook(
        module, "hidden", hook_fn=lambda frame: seen.append(frame.f_locals["hidden"])
    )
    handle = module.register_forward_pre_hook(hook)
    assert module(torch.tensor([1.0, 2.0])).item() == 15.0
    handle.remove()
    assert [t.tolist() for t in seen] == [[6.0, 9.0]]  # after its last assignment, once
    assert sys.gettrace() is previous
    with pytest.raises(ValueError, match="_Scaled.forward never assigns a variable named 'nothing'"):
        get_post_variable_assignment_hook(module, "nothing")


# ------------------------------------------------------------------------------------------------- typing, registry


def test_typing_names() -> None:
    from inseq.utils.typing import IdsTensor, InseqAttribution, MultiLayerMultiUnitScoreTensor

    assert IdsTensor is torch.Tensor and MultiLayerMultiUnitScoreTensor is torch.Tensor

    class Doubler(InseqAttribution):
        def attribute(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.forward_func(inputs) * 2

    op = Doubler(lambda t: t + 1)
    assert op.attribute(torch.tensor([1.0])).tolist() == [4.0] and not op.has_convergence_delta()
    with pytest.raises(NotImplementedError, match="InseqAttribution must implement attribute"):
        InseqAttribution(print).attribute()


def test_available_classes() -> None:
    from inseq.data.aggregation_functions import AggregationFunction
    from inseq.utils import available_classes
    from inseq.utils.features import MODEL_FEATURES

    assert {"mean", "max", "vnorm"} <= set(available_classes(AggregationFunction))
    assert available_classes(MODEL_FEATURES) == MODEL_FEATURES.keys()

"""A matrix of bad and edge-case inputs at every public boundary.

Each bad input must raise the library's own error (or a ValueError/TypeError/OSError subclass) whose message names
the bad value, never a bare KeyError/IndexError/AttributeError/RecursionError, and never from a last frame inside
torch, transformers, numpy or huggingface_hub. Valid edge cases must give sane (finite, non-empty) outputs.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import inseq
from inseq.attr.feat import register_attribution_method
from inseq.commands.attribute_context import attribute_context
from inseq.commands.base import CommandError
from inseq.data import schema
from inseq.data.aggregation_functions import register_aggregation_function
from inseq.data.files import clean_stale_temps
from inseq.pipelines.validation import clean_run_temps, read_manifest
from inseq.utils.errors import (
    AttributionFileError,
    DegenerateResultError,
    InputTooLongError,
    InseqError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    ModelLoadError,
)
from inseq.utils.options import check_cli_options

FOREIGN = ("torch", "transformers", "numpy", "huggingface_hub", "safetensors")
BARE = (KeyError, IndexError, AttributeError, RecursionError)
LONG_TEXT = " ".join(["the cat is on the mat"] * 80)


@dataclass
class Case:
    id: str
    call: Callable[[SimpleNamespace], Any]
    exc: type[BaseException]
    names: tuple[str, ...]


def _step_none(args):
    return None


def _step_list(args):
    return [0.0] * len(args.target_ids)


def _step_scalar(args):
    return args.logits.sum()


def _step_wide(args):
    return args.logits[:, :3]


def _step_nan(args):
    return args.logits[:, 0] * float("nan")


@pytest.fixture(scope="module")
def env(tiny_model_path, tmp_path_factory) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("reliability")
    gpt2_path = str(tiny_model_path("gpt2"))
    gpt2 = inseq.load_model(gpt2_path, "saliency")
    bart = inseq.load_model(str(tiny_model_path("bart")), "saliency")
    out = gpt2.attribute("the cat", "the cat is on", step_scores=["probability"], show_progress=False)
    saved = tmp / "out.json"
    out.save(saved)
    for name, fn in (("rel_none", _step_none), ("rel_list", _step_list), ("rel_wide", _step_wide)):
        inseq.register_step_function(fn, name, overwrite=True)
    folders = _crafted_folders(Path(gpt2_path), tmp / "folders")
    return SimpleNamespace(
        gpt2=gpt2, bart=bart, gpt2_path=gpt2_path, out=out, seq=out[0], saved=saved, tmp=tmp, **folders
    )


def _crafted_folders(src: Path, base: Path) -> dict[str, str]:
    def copy(name: str) -> Path:
        target = base / name
        shutil.copytree(src, target)
        return target

    notok = copy("notok")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (notok / f).unlink()
    trunc = copy("trunc")
    weights = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    garbage = copy("garbage")
    (garbage / "model.safetensors").write_bytes(b"\x00" * 64)
    badcfg = copy("badcfg")
    config = json.loads((badcfg / "config.json").read_text())
    config["n_layer"] = "two"
    (badcfg / "config.json").write_text(json.dumps(config))
    badjson = copy("badjson")
    (badjson / "config.json").write_text("{not json")
    noweights = copy("noweights")
    (noweights / "model.safetensors").unlink()
    empty = base / "empty"
    empty.mkdir()
    textfile = base / "model.txt"
    textfile.write_text("not a model")
    return {
        "notok": str(notok),
        "trunc": str(trunc),
        "garbage": str(garbage),
        "badcfg": str(badcfg),
        "badjson": str(badjson),
        "noweights": str(noweights),
        "empty": str(empty),
        "textfile": str(textfile),
        "cfgfile": str(src / "config.json"),
    }


def _grown_tokenizer(env):
    tok = inseq.load_model(env.gpt2_path).tokenizer
    tok.add_tokens([f"newtoken{i}" for i in range(20)])
    return tok


def _attr(model_name: str, *args, **kwargs):
    def call(env):
        kwargs.setdefault("show_progress", False)
        return getattr(env, model_name).attribute(*args, **kwargs)

    return call


def _g(*args, **kwargs):
    return _attr("gpt2", *args, **kwargs)


def _b(*args, **kwargs):
    return _attr("bart", *args, **kwargs)


def _load(model_key: str | None = None, *args, model: Any = None, **kwargs):
    def call(env):
        target = getattr(env, model_key) if model_key else model
        return inseq.load_model(target, *args, **kwargs)

    return call


def _load_tok(env):
    return inseq.load_model(env.gpt2_path, tokenizer=_grown_tokenizer(env))


E, T = InvalidArgumentError, InvalidArgumentTypeError

LOAD_CASES = [
    Case("model-int", _load(None, model=42), T, ("model", "42")),
    Case("model-none", _load(None, model=None), T, ("model", "None")),
    Case(
        "model-float",
        _load(None, model=3.5),
        T,
        ("model must be a hub model id, a local folder path or a transformers PreTrainedModel, got 3.5 (float).",),
    ),
    Case("model-list", _load(None, model=["gpt2"]), T, ("['gpt2']",)),
    Case("model-bytes", _load(None, model=b"gpt2"), T, ("b'gpt2'",)),
    Case("model-empty", _load(None, model=""), E, ("empty",)),
    Case("model-blank", _load(None, model="   "), E, ("empty",)),
    Case("method-int", _load("gpt2_path", 42), T, ("attribution_method", "42")),
    Case("method-unknown", _load("gpt2_path", "nope"), ValueError, ("'nope'",)),
    Case("method-list", _load("gpt2_path", ["saliency"]), T, ("['saliency']",)),
    Case("framework-list", _load("gpt2_path", framework=["a"]), E, ("['a']", "hf_transformers")),
    Case("framework-unknown", _load("gpt2_path", framework="torch"), E, ("'torch'", "hf_transformers")),
    Case("framework-int", _load("gpt2_path", framework=1), E, ("1 (int)",)),
    Case("framework-none", _load("gpt2_path", framework=None), E, ("None",)),
    Case("tokenizer-int", _load("gpt2_path", tokenizer=123), T, ("tokenizer", "123")),
    Case(
        "tokenizer-float",
        _load("gpt2_path", tokenizer=1.5),
        T,
        ("tokenizer must be a hub id, a folder path or a transformers tokenizer, got 1.5 (float).",),
    ),
    Case("tokenizer-list", _load("gpt2_path", tokenizer=["x"]), T, ("['x']",)),
    Case("tokenizer-missing-path", _load("gpt2_path", tokenizer="/no/such/tokenizer"), ModelLoadError, ("/no/such",)),
    Case("tokenizer-vocab-too-big", _load_tok, E, ("has 820 tokens but the model embeds only 800 ids",)),
    Case("model-kwargs-str", _load("gpt2_path", model_kwargs="x"), T, ("model_kwargs", "'x'")),
    Case("model-kwargs-int", _load("gpt2_path", model_kwargs=5), T, ("model_kwargs", "5")),
    Case("tokenizer-kwargs-list", _load("gpt2_path", tokenizer_kwargs=["a"]), T, ("tokenizer_kwargs", "['a']")),
    Case("unknown-kwarg", _load("gpt2_path", foo=1), E, ("'foo'",)),
    Case("unknown-kwarg-with-method", _load("gpt2_path", "saliency", n_stepz=3), E, ("'n_stepz'",)),
    Case("device-gpu", _load("gpt2_path", device="gpu"), ValueError, ("'gpu'",)),
    Case(
        "device-int", _load("gpt2_path", device=7), ValueError, ("Unknown device '7' (device=7): use 'cpu', 'cuda'",)
    ),
    Case("folder-no-tokenizer", _load("notok"), ModelLoadError, ("notok", "tokenizer")),
    Case("folder-truncated-weights", _load("trunc"), ModelLoadError, ("trunc", "corrupt or truncated")),
    Case("folder-garbage-weights", _load("garbage"), ModelLoadError, ("garbage",)),
    Case("folder-bad-config-type", _load("badcfg"), ModelLoadError, ("badcfg", "config.json")),
    Case("folder-bad-config-json", _load("badjson"), ModelLoadError, ("badjson", "config.json")),
    Case("folder-no-weights", _load("noweights"), ModelLoadError, ("noweights", "no weights file")),
    Case("folder-empty", _load("empty"), ModelLoadError, ("empty",)),
    Case("path-is-config-file", _load("cfgfile"), ModelLoadError, ("config.json", "pass the folder")),
    Case("path-is-text-file", _load("textfile"), ModelLoadError, ("model.txt", "is a file")),
    Case("path-missing", _load(None, model="/no/such/model/folder"), ModelLoadError, ("/no/such/model/folder",)),
    Case("path-relative-missing", _load(None, model="./no-such-model"), ModelLoadError, ("./no-such-model",)),
]


def _contrast_targets(env):
    return env.gpt2.attribute("the cat", "the cat is", attributed_fn="contrast_prob_diff", show_progress=False)


ATTRIBUTE_CASES = [
    Case("input-int", _g(42), T, ("input_texts", "42 (int)")),
    Case("input-none", _g(None), T, ("input_texts", "None")),
    Case("input-float", _g(3.5), T, ("input_texts must be a string, a list of strings", "got 3.5 (float).")),
    Case("input-list-floats", _g([1.5, 2]), T, ("input_texts[0]", "1.5 (float)")),
    Case("input-list-none", _g(["ok", None]), T, ("input_texts[1]", "None")),
    Case("input-dict", _g({"a": 1}), T, ("{'a': 1}",)),
    Case("input-bytes", _g(b"hello"), T, ("b'hello'",)),
    Case("input-set", _g({"a"}), T, ("{'a'}",)),
    Case("input-empty-list", _g([]), E, ("input_texts is empty",)),
    Case("input-surrogate", _g("bad \ud800 text"), E, ("input_texts", "'\\ud800'", "index 4")),
    Case("input-surrogate-in-list", _g(["ok", "x\udfff"]), E, ("input_texts[1]", "'\\udfff'")),
    Case("input-too-long", _g(LONG_TEXT), InputTooLongError, ("input_texts[0]", "256")),
    Case(
        "input-too-long-generation",
        _g("the cat", generation_args={"max_new_tokens": 400}),
        InputTooLongError,
        ("input_texts[0] has 3 tokens plus 400 generated tokens", "at most 256 positions"),
    ),
    Case(
        "prompt-fits-generation-does-not",
        _g(" ".join(["cat"] * 240), generation_args={"max_new_tokens": 30}),
        InputTooLongError,
        ("30 generated tokens", "256"),
    ),
    Case(
        "generated-too-long", _g("the cat", "the cat " + LONG_TEXT), InputTooLongError, ("generated_texts[0]", "256")
    ),
    Case("bart-source-too-long", _b(LONG_TEXT), InputTooLongError, ("input_texts[0]", "256")),
    Case(
        "bart-generation-too-long",
        _b("the cat", generation_args={"max_new_tokens": 300}),
        InputTooLongError,
        ("Generating 300 tokens needs 301 decoder positions", "at most 256: lower max_new_tokens"),
    ),
    Case("bart-target-too-long", _b("the cat", LONG_TEXT), InputTooLongError, ("generated_texts[0]", "256")),
    Case("generated-int", _g("the cat", 42), T, ("generated_texts", "42")),
    Case("generated-list-float", _g("the cat", [1.5]), T, ("generated_texts[0]", "1.5 (float)")),
    Case(
        "generated-length-mismatch",
        _g(["a", "b"], ["a b"]),
        ValueError,
        ("input_texts has 2 texts but generated_texts has 1",),
    ),
    Case("generated-surrogate", _g("the cat", "the cat \ud800"), E, ("generated_texts", "'\\ud800'")),
    Case("method-int", _g("the cat", method=42), ValueError, ("Unknown attribution method 42 (method=42).",)),
    Case("method-unknown", _g("the cat", method="nope"), ValueError, ("'nope'",)),
    Case("attr-pos-start-str", _g("the cat", attr_pos_start="3"), T, ("attr_pos_start", "'3'")),
    Case("attr-pos-start-float", _g("the cat", attr_pos_start=3.5), T, ("attr_pos_start", "3.5")),
    Case("attr-pos-end-str", _g("the cat", attr_pos_end="3"), T, ("attr_pos_end", "'3'")),
    Case("attr-pos-end-list", _g("the cat", attr_pos_end=[1]), T, ("attr_pos_end", "[1]")),
    Case("attr-pos-start-bool", _g("the cat", attr_pos_start=True), T, ("attr_pos_start", "True")),
    Case("attribute-target-str", _b("the cat", attribute_target="yes"), T, ("attribute_target", "'yes'")),
    Case("attribute-target-int", _b("the cat", attribute_target=1), T, ("attribute_target", "1 (int)")),
    Case("include-eos-str", _g("the cat", include_eos_baseline="no"), T, ("include_eos_baseline", "'no'")),
    Case("skip-special-str", _g("the cat", skip_special_tokens="x"), T, ("skip_special_tokens", "'x'")),
    Case("from-prefix-str", _b("the cat", generate_from_target_prefix="x"), T, ("generate_from_target_prefix",)),
    Case("batch-size-zero", _g("the cat", batch_size=0), E, ("batch_size", "0")),
    Case("batch-size-negative", _g("the cat", batch_size=-1), E, ("batch_size", "-1")),
    Case("batch-size-str", _g("the cat", batch_size="2"), T, ("batch_size", "'2'")),
    Case("batch-size-float", _g("the cat", batch_size=2.5), T, ("batch_size", "2.5")),
    Case("step-scores-str", _g("the cat", step_scores="probability"), T, ("step_scores", "'probability'")),
    Case("step-scores-int", _g("the cat", step_scores=42), T, ("step_scores", "42")),
    Case("step-scores-unknown", _g("the cat", step_scores=["nope"]), E, ("'nope'", "probability")),
    Case("step-scores-int-item", _g("the cat", step_scores=[42]), T, ("step_scores[0]", "42")),
    Case("step-scores-none-item", _g("the cat", step_scores=[None]), T, ("step_scores[0]", "None")),
    Case("step-scores-callable", _g("the cat", step_scores=[_step_none]), T, ("step_scores[0]", "register")),
    Case("attributed-fn-int", _g("the cat", attributed_fn=42), T, ("attributed_fn", "42")),
    Case("attributed-fn-unknown", _g("the cat", attributed_fn="nope"), E, ("'nope'",)),
    Case("attributed-fn-list", _g("the cat", attributed_fn=["probability"]), T, ("['probability']",)),
    Case(
        "gen-args-str", _g("the cat", generation_args="max_new_tokens=3"), T, ("generation_args", "'max_new_tokens=3'")
    ),
    Case("gen-args-int", _g("the cat", generation_args=42), T, ("generation_args", "42")),
    Case("gen-args-list", _g("the cat", generation_args=["a"]), T, ("generation_args", "['a']")),
    Case("gen-args-int-key", _g("the cat", generation_args={1: 2}), T, ("generation_args", "1 (int)")),
    Case("gen-max-new-negative", _g("the cat", generation_args={"max_new_tokens": -1}), E, ("max_new_tokens", "-1")),
    Case("gen-max-new-zero", _g("the cat", generation_args={"max_new_tokens": 0}), E, ("max_new_tokens", "0")),
    Case("gen-max-new-str", _g("the cat", generation_args={"max_new_tokens": "3"}), T, ("max_new_tokens", "'3'")),
    Case("gen-max-new-float", _g("the cat", generation_args={"max_new_tokens": 2.5}), T, ("max_new_tokens", "2.5")),
    Case(
        "gen-temperature-zero",
        _g("the cat", generation_args={"temperature": 0, "do_sample": True}),
        E,
        ("temperature", "0"),
    ),
    Case("gen-temperature-negative", _g("the cat", generation_args={"temperature": -1.0}), E, ("temperature", "-1.0")),
    Case(
        "gen-temperature-nan", _g("the cat", generation_args={"temperature": float("nan")}), E, ("temperature", "nan")
    ),
    Case("gen-top-p-big", _g("the cat", generation_args={"top_p": 1.5}), E, ("top_p", "1.5")),
    Case("gen-top-k-negative", _g("the cat", generation_args={"top_k": -1}), E, ("top_k", "-1")),
    Case("gen-num-beams-zero", _g("the cat", generation_args={"num_beams": 0}), E, ("num_beams", "0")),
    Case("gen-unknown-key", _g("the cat", generation_args={"max_new_tokenz": 3}), E, ("'max_new_tokenz'",)),
    Case("gen-do-sample-str", _g("the cat", generation_args={"do_sample": "yes"}), T, ("do_sample", "'yes'")),
    Case(
        "gen-num-return-2",
        _g("the cat", generation_args={"num_return_sequences": 2}),
        E,
        ("num_return_sequences", "2"),
    ),
    Case("gen-reserved-key", _g("the cat", generation_args={"input_ids": [1]}), E, ("input_ids",)),
    Case("bart-gen-unknown-key", _b("the cat", generation_args={"foo": 1}), E, ("'foo'",)),
    Case(
        "bart-gen-max-new-negative",
        _b("the cat", generation_args={"max_new_tokens": -5}),
        E,
        ("generation_args['max_new_tokens'] must be an int >= 1 or None, got -5.",),
    ),
    Case("n-steps-str", _g("the cat", method="integrated_gradients", n_steps="10"), T, ("n_steps", "'10'")),
    Case("n-steps-zero", _g("the cat", method="integrated_gradients", n_steps=0), E, ("n_steps", "0")),
    Case("n-steps-float", _g("the cat", method="integrated_gradients", n_steps=2.5), T, ("n_steps", "2.5")),
    Case(
        "internal-batch-size-str",
        _g("the cat", method="integrated_gradients", internal_batch_size="x"),
        T,
        ("internal_batch_size", "'x'"),
    ),
    Case(
        "internal-batch-size-zero",
        _g("the cat", method="integrated_gradients", internal_batch_size=0),
        E,
        ("internal_batch_size", "0"),
    ),
    Case(
        "perturbations-per-eval-neg",
        _g("the cat", method="occlusion", perturbations_per_eval=-2),
        E,
        ("perturbations_per_eval", "-2"),
    ),
    Case(
        "occlusion-spans-overlap",
        _g("the cat sat", method="occlusion", spans=[(0, 2), (1, 3)]),
        E,
        ("spans overlap: (0, 2) and (1, 3)",),
    ),
    Case(
        "occlusion-spans-out-of-range",
        _g("the cat sat", method="occlusion", spans=[(0, 99)]),
        E,
        ("spans entry (0, 99) is out of range", "0 <= start < end <= "),
    ),
    Case(
        "occlusion-spans-not-int-pairs",
        _g("the cat sat", method="occlusion", spans=[(0, 1.5)]),
        T,
        ("spans entries must be (start, end) pairs of ints, got (0, 1.5)",),
    ),
    Case(
        "occlusion-spans-not-a-list",
        _g("the cat sat", method="occlusion", spans=3),
        T,
        ("spans must be a non-empty list of (start, end) token ranges, got 3",),
    ),
    Case(
        "occlusion-spans-with-windows",
        _g("the cat sat", method="occlusion", spans=[(0, 1)], sliding_window_shapes=2),
        E,
        ("sliding_window_shapes=2", "leave sliding_window_shapes and strides unset"),
    ),
    Case(
        "n-steps-in-attribution-args",
        _g("the cat", method="integrated_gradients", attribution_args={"n_steps": "3"}),
        T,
        ("n_steps", "'3'"),
    ),
    Case("attribution-args-str", _g("the cat", attribution_args="x"), T, ("attribution_args", "'x'")),
    Case("attributed-fn-args-int", _g("the cat", attributed_fn_args=5), T, ("attributed_fn_args", "5")),
    Case("step-scores-args-list", _g("the cat", step_scores_args=[1]), T, ("step_scores_args", "[1]")),
    Case("attribution-args-unknown", _g("the cat", attribution_args={"nope": 1}), ValueError, ("'nope'",)),
    Case("truncate-inputs-str", _g("the cat", truncate_inputs="yes"), T, ("truncate_inputs", "'yes'")),
    Case("contrast-fn-without-targets", _contrast_targets, E, ("contrast_prob_diff", "contrast_targets")),
    Case(
        "contrast-step-without-targets",
        _g("the cat", step_scores=["contrast_prob_diff"]),
        E,
        ("contrast_prob_diff", "contrast_targets"),
    ),
    Case(
        "custom-fn-returns-none",
        _g("the cat", "the cat is", attributed_fn=_step_none),
        DegenerateResultError,
        ("_step_none", "None"),
    ),
    Case(
        "custom-fn-returns-list",
        _g("the cat", "the cat is", attributed_fn=_step_list),
        DegenerateResultError,
        ("_step_list", "list"),
    ),
    Case(
        "custom-fn-returns-scalar",
        _g(["the cat", "a dog"], ["the cat is on", "a dog is on"], attributed_fn=_step_scalar),
        DegenerateResultError,
        ("_step_scalar", "shape ()"),
    ),
    Case(
        "custom-fn-returns-wide",
        _g("the cat", "the cat is", attributed_fn=_step_wide),
        DegenerateResultError,
        ("_step_wide", "3)"),
    ),
    Case(
        "step-score-returns-none",
        _g("the cat", "the cat is", step_scores=["rel_none"]),
        DegenerateResultError,
        ("rel_none", "None"),
    ),
    Case(
        "step-score-returns-list",
        _g("the cat", "the cat is", step_scores=["rel_list"]),
        DegenerateResultError,
        ("rel_list", "list"),
    ),
    Case(
        "step-score-returns-wide",
        _g("the cat", "the cat is", step_scores=["rel_wide"]),
        DegenerateResultError,
        ("rel_wide", "3)"),
    ),
    Case("device-gpu", _g("the cat", device="gpu"), ValueError, ("'gpu'",)),
    Case("decoder-only-mismatched-target", _g("the cat", "a dog"), ValueError, ("generated_texts[0]",)),
]


ATTRIBUTE_CASES += [
    Case(
        "contrast-targets-int",
        _g("the cat", "the cat is", attributed_fn="contrast_prob_diff", contrast_targets=42),
        T,
        ("contrast_targets", "42"),
    ),
    Case(
        "contrast-targets-list-int",
        _g("the cat", "the cat is", attributed_fn="contrast_prob_diff", contrast_targets=[1]),
        T,
        ("contrast_targets[0]", "1 (int)"),
    ),
    Case(
        "contrast-targets-surrogate",
        _g("the cat", "the cat is", attributed_fn="contrast_prob_diff", contrast_targets="the \ud800"),
        E,
        ("contrast_targets", "'\\ud800'"),
    ),
    Case(
        "bart-contrast-sources-int",
        _b("the cat", "le chat", attributed_fn="contrast_prob_diff", contrast_sources=5),
        T,
        ("contrast_sources", "5"),
    ),
    Case(
        "contrast-alignments-str",
        _g(
            "the cat",
            "the cat is",
            attributed_fn="contrast_prob_diff",
            contrast_targets="the cat was",
            contrast_targets_alignments="x",
        ),
        T,
        ("contrast_targets_alignments", "'x'"),
    ),
    Case(
        "contrast-alignments-non-int",
        _g(
            "the cat",
            "the cat is",
            attributed_fn="contrast_prob_diff",
            contrast_targets="the cat was",
            contrast_targets_alignments=[("a", 1)],
        ),
        T,
        ("('a', 1)",),
    ),
    Case(
        "contrast-targets-count",
        _g("the cat", "the cat is", attributed_fn="contrast_prob_diff", contrast_targets=["a", "b"]),
        ValueError,
        ("contrast_targets has 2 texts but 1 inputs are attributed",),
    ),
    Case(
        "contrast-sources-decoder-only",
        _g("the cat", "the cat is", attributed_fn="contrast_prob_diff", contrast_sources="x"),
        ValueError,
        ("contrast_sources",),
    ),
    Case(
        "override-default-str",
        _g("the cat", method="saliency", override_default_attribution="yes"),
        T,
        ("override_default_attribution", "'yes'"),
    ),
    Case("show-progress-str", _g("the cat", show_progress="no"), T, ("show_progress", "'no'")),
    Case(
        "output-step-attributions-str",
        _g("the cat", output_step_attributions="x"),
        T,
        ("output_step_attributions", "'x'"),
    ),
    Case("clean-special-chars-int", _g("the cat", clean_special_chars=2), T, ("clean_special_chars", "2")),
    Case(
        "attr-pos-start-beyond",
        _g("the cat", "the cat is on", attr_pos_start=100),
        ValueError,
        ("attr_pos_start=100 / attr_pos_end=None fall outside the target sequence of 5 tokens",),
    ),
    Case(
        "attr-pos-end-beyond",
        _g("the cat", "the cat is on", attr_pos_end=100),
        ValueError,
        ("attr_pos_start=None / attr_pos_end=100 fall outside the target sequence of 5 tokens",),
    ),
    Case(
        "attr-pos-end-before-start",
        _g("the cat", "the cat is on", attr_pos_start=3, attr_pos_end=2),
        ValueError,
        ("attr_pos_end=2",),
    ),
    Case("generated-equals-prompt", _g("the cat", "the cat"), ValueError, ("No target position",)),
    Case("bart-empty-source", _b(""), ValueError, ("input_texts[0] is empty",)),
    Case("encode-int", lambda env: env.gpt2.encode(42), T, ("texts", "42")),
    Case("generate-int", lambda env: env.gpt2.generate(42), T, ("inputs", "42")),
    Case(
        "generate-negative-tokens",
        lambda env: env.gpt2.generate("the cat", max_new_tokens=-1),
        E,
        ("max_new_tokens", "-1"),
    ),
    Case(
        "generate-too-long",
        lambda env: env.gpt2.generate(LONG_TEXT, max_new_tokens=2),
        InputTooLongError,
        ("inputs[0]", "256"),
    ),
    Case("bart-generate-list-int", lambda env: env.bart.generate([1]), T, ("inputs[0]", "1 (int)")),
    Case(
        "bart-generate-unknown-key",
        lambda env: env.bart.generate("the cat", max_new_tokenz=2),
        E,
        ("'max_new_tokenz'",),
    ),
]


def _layer_method(target_layer: Any):
    def call(env):
        model = inseq.load_model(env.gpt2_path, "layer_integrated_gradients", target_layer=target_layer)
        return model.attribute("the cat", show_progress=False)

    return call


ATTRIBUTE_CASES += [
    Case("method-list", _g("the cat", method=["saliency"]), ValueError, ("['saliency']",)),
    Case("method-dict", _g("the cat", method={"a": 1}), ValueError, ("{'a': 1}",)),
    Case("target-layer-unknown", _layer_method("nope.layer"), ValueError, ("'nope.layer'",)),
    Case("target-layer-int", _layer_method(3), T, ("target_layer", "3 (int)")),
    Case("explain-list", lambda env: inseq.explain(["x"]), ValueError, ("['x']",)),
]


def _agg(*args, **kwargs):
    return lambda env: env.out.aggregate(*args, **kwargs)


def _seq_agg(*args, **kwargs):
    return lambda env: env.seq.aggregate(*args, **kwargs)


AGGREGATE_CASES = [
    Case("aggregator-int", _agg(42), ValueError, ("Unknown aggregator 42 (aggregator=42).",)),
    Case("aggregator-unknown", _agg("nope"), ValueError, ("'nope'",)),
    Case("aggregator-list-bad-item", _agg(["spans", 5]), ValueError, ("Unknown aggregator 5 (aggregator[1]=5).",)),
    Case("aggregate-fn-unknown", _agg("scores", aggregate_fn="nope"), ValueError, ("'nope'",)),
    Case(
        "aggregate-fn-none-result",
        _agg("scores", aggregate_fn=lambda t, dim: None),
        DegenerateResultError,
        ("<lambda>", "None"),
    ),
    Case(
        "aggregate-fn-list-result", _agg("scores", aggregate_fn=lambda t, dim: [1]), DegenerateResultError, ("list",)
    ),
    Case("aggregate-fn-wrong-shape", _agg("scores", aggregate_fn=lambda t, dim: t), DegenerateResultError, ("shape",)),
    Case("aggregate-unknown-kwarg", _agg(nromalize=False), E, ("'nromalize'", "normalize")),
    Case("aggregate-unknown-kwarg-spans", _agg("spans", source_spanz=(0, 1)), E, ("'source_spanz'",)),
    Case("aggregate-normalize-and-rescale", _agg(normalize=True, rescale=True), ValueError, ("normalize", "rescale")),
    Case(
        "aggregate-fns-length-mismatch",
        _agg(["mean", "mean"], aggregate_fn=["mean"]),
        ValueError,
        ("Got 2 aggregators but 1 aggregate_fn values.",),
    ),
    Case("aggregate-fn-not-list", _agg(["mean", "mean"], aggregate_fn="mean"), ValueError, ("aggregate_fn",)),
    Case("spans-reversed", _seq_agg("spans", source_spans=(1, 0)), ValueError, ("(1, 0)",)),
    Case(
        "spans-out-of-range",
        _seq_agg("spans", target_spans=(0, 99)),
        ValueError,
        ("Invalid target span (0, 99) in target_spans: need 0 <= start < end <= 5",),
    ),
    Case(
        "spans-str",
        _seq_agg("spans", source_spans="x"),
        ValueError,
        ("Invalid source span 'x' in source_spans: expected a (start, end) pair of ints.",),
    ),
    Case(
        "pair-not-output",
        _seq_agg("pair", paired_attr=5),
        ValueError,
        ("needs paired_attr=<sequence output>, got 5.",),
    ),
]


AGGREGATE_CASES += [
    Case("special-chars-int", _agg("subwords", special_chars=5), T, ("special_chars", "5")),
    Case("split-pattern-bad-regex", _agg("split", split_pattern="("), E, ("split_pattern", "'('")),
    Case("split-pattern-int", _agg("split", split_pattern=3), T, ("split_pattern", "3")),
    Case("select-idx-str", _agg(select_idx="x"), T, ("select_idx", "'x'")),
    Case("select-idx-float-list", _agg(select_idx=[1.5]), T, ("select_idx", "[1.5]")),
    Case("normalize-str", _agg(normalize="yes"), T, ("normalize", "'yes'")),
    Case("weight-unknown-step-score", lambda env: env.seq.weight_attributions("nope"), KeyError, ("'nope'",)),
    Case("getitem-out-of-range", lambda env: env.out[5], IndexError, ("5", "1 item")),
    Case(
        "getitem-str",
        lambda env: env.out["a"],
        T,
        ("FeatureAttributionOutput indices must be ints or slices, got 'a' (str).",),
    ),
    Case(
        "seq-getitem-out-of-range",
        lambda env: env.seq[100],
        IndexError,
        ("index 100 is out of range: it holds 3 item(s).",),
    ),
    Case(
        "seq-getitem-str",
        lambda env: env.seq["x"],
        TypeError,
        ("Sequence outputs can be indexed by an int or a step-1 slice, got 'x'.",),
    ),
    Case("seq-getitem-step", lambda env: env.seq[::2], TypeError, ("slice(None, None, 2)",)),
    Case(
        "seq-sub-int",
        lambda env: env.seq - 5,
        TypeError,
        ("unsupported operand type(s) for -: 'GranularFeatureAttributionSequenceOutput' and 'int'",),
    ),
    Case(
        "show-aggregator-int",
        lambda env: env.out.show(aggregator=42, display=False),
        ValueError,
        ("Unknown aggregator 42 (aggregator=42).",),
    ),
    Case(
        "dataframe-aggregator-int",
        lambda env: env.out.to_dataframe(aggregator=42),
        ValueError,
        ("Unknown aggregator 42 (aggregator=42).",),
    ),
    Case(
        "slices-str",
        _agg("slices", target_spans="x"),
        ValueError,
        ("Invalid prompt span 'x' in target_spans: expected a (start, end) pair of ints.",),
    ),
]


def _show(**kwargs):
    return lambda env: env.out.show(display=False, return_html=True, **kwargs)


SHOW_CASES = [
    Case("show-min-above-max", _show(min_val=1, max_val=0), E, ("min_val", "1", "max_val", "0")),
    Case(
        "show-min-equals-max",
        _show(min_val=0.5, max_val=0.5),
        E,
        ("show(): min_val (0.5) must be lower than max_val (0.5).",),
    ),
    Case("show-min-nan", _show(min_val=float("nan")), E, ("min_val", "nan")),
    Case("show-max-inf", _show(max_val=float("inf")), E, ("max_val", "inf")),
    Case("show-min-str", _show(min_val="0"), T, ("min_val", "'0'")),
    Case("show-max-list", _show(max_val=[1]), T, ("max_val", "[1]")),
    Case("show-display-str", lambda env: env.out.show(display="yes", return_html=True), T, ("display", "'yes'")),
    Case("show-return-html-int", lambda env: env.out.show(display=False, return_html=1), T, ("return_html", "1")),
    Case("show-unknown-kwarg", _show(colour="red"), E, ("'colour'",)),
    Case(
        "show-tokens-replace-char-str",
        lambda env: inseq.viz.show_token_attributions(env.out, display=False, return_html=True, replace_char="x"),
        T,
        ("replace_char", "'x'"),
    ),
    Case(
        "show-tokens-replace-char-int-value",
        lambda env: inseq.viz.show_token_attributions(env.out, display=False, return_html=True, replace_char={"a": 1}),
        T,
        ("replace_char", "1"),
    ),
]


def _write(env, name: str, content: bytes | str) -> Path:
    path = env.tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _load_text(name: str, make: Callable[[dict], Any]):
    def call(env):
        data = json.loads(env.saved.read_text())
        make(data)
        return inseq.FeatureAttributionOutput.load(_write(env, name, json.dumps(data)))

    return call


def _seq_attrs(data: dict) -> dict:
    return data["attributes"]["sequence_attributions"][0]["attributes"]


def _set(path: tuple, value: Any) -> Callable[[dict], None]:
    def make(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return make


def _seq_set(field: str, value: Any) -> Callable[[dict], None]:
    return lambda data: _seq_attrs(data).__setitem__(field, value)


def _raw(name: str, content: bytes | str):
    return lambda env: inseq.FeatureAttributionOutput.load(_write(env, name, content))


def _gzip_bomb(env):
    original = schema.MAX_DECOMPRESSED_BYTES
    schema.MAX_DECOMPRESSED_BYTES = 1 << 20
    try:
        bomb = gzip.compress(b" " * (8 << 20), mtime=0)
        return inseq.FeatureAttributionOutput.load(_write(env, "bomb.json.gz", bomb))
    finally:
        schema.MAX_DECOMPRESSED_BYTES = original


def _oversized(env):
    original = schema.MAX_FILE_BYTES
    schema.MAX_FILE_BYTES = 100
    try:
        return inseq.FeatureAttributionOutput.load(env.saved)
    finally:
        schema.MAX_FILE_BYTES = original


def _save(**kwargs):
    return lambda env: env.out.save(env.saved, **kwargs)


SAVE_LOAD_CASES = [
    Case("save-existing-no-overwrite", _save(), ValueError, ("out.json", "overwrite")),
    Case("save-precision-unknown", _save(overwrite=True, scores_precision="float64"), ValueError, ("'float64'",)),
    Case(
        "save-precision-int",
        _save(overwrite=True, scores_precision=42),
        ValueError,
        ("Unknown scores_precision 42. Valid: float32, float16, float8.",),
    ),
    Case("load-not-json", _raw("notjson.json", "hello"), AttributionFileError, ("notjson.json", "not valid JSON")),
    Case(
        "load-truncated",
        lambda env: inseq.FeatureAttributionOutput.load(_write(env, "trunc.json", env.saved.read_bytes()[:200])),
        AttributionFileError,
        ("trunc.json",),
    ),
    Case("load-empty-file", _raw("empty.json", b""), AttributionFileError, ("empty.json",)),
    Case(
        "load-deep-nesting",
        _raw("deep.json", "[" * 100_000 + "]" * 100_000),
        AttributionFileError,
        ("deep.json", "nested deeper"),
    ),
    Case(
        "load-deep-objects",
        _raw("deepobj.json", '{"a":' * 100_000 + "1" + "}" * 100_000),
        AttributionFileError,
        ("deepobj.json",),
    ),
    Case("load-json-null", _raw("null.json", "null"), AttributionFileError, ("NoneType",)),
    Case("load-json-list", _raw("list.json", "[1, 2]"), AttributionFileError, ("list",)),
    Case("load-folder", lambda env: inseq.FeatureAttributionOutput.load(env.tmp), AttributionFileError, ("folder",)),
    Case(
        "load-missing",
        lambda env: inseq.FeatureAttributionOutput.load(env.tmp / "nope.json"),
        FileNotFoundError,
        ("nope.json",),
    ),
    Case("load-gzip-bomb", _gzip_bomb, AttributionFileError, ("bomb.json.gz", "MAX_DECOMPRESSED_BYTES")),
    Case("load-oversized", _oversized, AttributionFileError, ("out.json", "MAX_FILE_BYTES")),
    Case(
        "load-truncated-gzip",
        lambda env: inseq.FeatureAttributionOutput.load(
            _write(env, "t.json.gz", gzip.compress(env.saved.read_bytes())[:100])
        ),
        AttributionFileError,
        ("t.json.gz",),
    ),
    Case(
        "load-not-gzip-decompress",
        lambda env: inseq.FeatureAttributionOutput.load(env.saved, decompress=True),
        AttributionFileError,
        ("out.json", "gzip"),
    ),
    Case(
        "load-sequences-str",
        _load_text("s1.json", _set(("attributes", "sequence_attributions"), "abc")),
        AttributionFileError,
        ("sequence_attributions", "'abc'"),
    ),
    Case(
        "load-sequences-dict",
        _load_text("s2.json", _set(("attributes", "sequence_attributions"), {"a": 1})),
        AttributionFileError,
        ("sequence_attributions", "dict"),
    ),
    Case(
        "load-info-list",
        _load_text("s3.json", _set(("attributes", "info"), [1, 2])),
        AttributionFileError,
        ("info", "[1, 2]"),
    ),
    Case(
        "load-step-attributions-str",
        _load_text("s4.json", _set(("attributes", "step_attributions"), "x")),
        AttributionFileError,
        ("step_attributions", "'x'"),
    ),
    Case(
        "load-instance-type-os",
        _load_text("s5.json", _set(("__instance_type__",), ["os", "system"])),
        ValueError,
        ("['os', 'system']",),
    ),
    Case(
        "load-instance-type-str",
        _load_text("s6.json", _set(("__instance_type__",), "x")),
        ValueError,
        ("Malformed __instance_type__ 'x': expected [module, class_name].",),
    ),
    Case("load-unknown-field", _load_text("s7.json", _set(("attributes", "evil"), 1)), ValueError, ("evil",)),
    Case("load-source-str", _load_text("s8.json", _seq_set("source", "abc")), ValueError, ("source",)),
    Case("load-target-ints", _load_text("s9.json", _seq_set("target", [1, 2])), ValueError, ("target",)),
    Case(
        "load-attr-pos-start-str",
        _load_text("s10.json", _seq_set("attr_pos_start", "3")),
        AttributionFileError,
        ("attr_pos_start", "'3'"),
    ),
    Case(
        "load-attr-pos-end-float",
        _load_text("s11.json", _seq_set("attr_pos_end", 2.5)),
        AttributionFileError,
        ("attr_pos_end", "2.5"),
    ),
    Case("load-step-scores-list", _load_text("s12.json", _seq_set("step_scores", [1])), ValueError, ("step_scores",)),
    Case(
        "load-attributions-int",
        _load_text("s13.json", _seq_set("target_attributions", 5)),
        ValueError,
        ("target_attributions", "int"),
    ),
    Case(
        "load-attributions-bad-b64",
        _load_text("s14.json", _seq_set("target_attributions", "!!!")),
        ValueError,
        ("target_attributions", "base64"),
    ),
    Case(
        "load-attributions-not-safetensors",
        _load_text("s15.json", _seq_set("target_attributions", base64.b64encode(b"hello").decode())),
        ValueError,
        ("target_attributions", "safetensors"),
    ),
    Case(
        "load-token-bad",
        _load_text(
            "s16.json",
            _seq_set(
                "target",
                [{"__instance_type__": ["inseq.utils.typing", "TokenWithId"], "attributes": {"id": "x", "token": 1}}],
            ),
        ),
        ValueError,
        ("TokenWithId",),
    ),
    Case(
        "load-ndarray-bad-dtype",
        _load_text(
            "s17.json", _set(("attributes", "info", "arr"), {"__ndarray__": [1], "dtype": "object", "shape": [1]})
        ),
        ValueError,
        ("'object'",),
    ),
    Case(
        "load-ndarray-shape-mismatch",
        _load_text(
            "s18.json",
            _set(("attributes", "info", "arr"), {"__ndarray__": "b64:AAAA", "dtype": "float32", "shape": [5]}),
        ),
        ValueError,
        ("shape", "[5]"),
    ),
]


SAVE_LOAD_CASES += [
    Case("save-path-int", lambda env: env.out.save(42), T, ("path", "42")),
    Case("save-path-folder", lambda env: env.out.save(env.tmp, overwrite=True), E, ("is a folder",)),
    Case("save-compress-str", _save(overwrite=True, compress="yes"), T, ("compress", "'yes'")),
    Case("save-overwrite-int", _save(overwrite=1), T, ("overwrite", "1")),
    Case("save-split-str", _save(overwrite=True, split_sequences="x"), T, ("split_sequences", "'x'")),
    Case("load-path-int", lambda env: inseq.FeatureAttributionOutput.load(42), T, ("path", "42")),
    Case(
        "load-decompress-str",
        lambda env: inseq.FeatureAttributionOutput.load(env.saved, decompress="no"),
        T,
        ("decompress", "'no'"),
    ),
]


def _bad_aggregate_map(env):
    inseq.register_step_function(_step_none, "rel_fails", aggregate_map={"spans": "not-a-function"})


REGISTER_CASES = [
    Case(
        "step-fn-not-callable",
        lambda env: inseq.register_step_function(42, "x"),
        TypeError,
        ("register_step_function(): fn must be a callable step function, got 42 (int).",),
    ),
    Case(
        "step-fn-id-int",
        lambda env: inseq.register_step_function(_step_none, 42),
        ValueError,
        ("register_step_function(): identifier must be a non-empty string, got 42 (int).",),
    ),
    Case(
        "step-fn-id-empty",
        lambda env: inseq.register_step_function(_step_none, ""),
        ValueError,
        ("register_step_function(): identifier must be a non-empty string, got '' (str).",),
    ),
    Case(
        "step-fn-duplicate",
        lambda env: inseq.register_step_function(_step_none, "probability"),
        ValueError,
        ("'probability'", "overwrite"),
    ),
    Case("step-fn-bad-aggregate-map", _bad_aggregate_map, ValueError, ("not-a-function",)),
    Case("model-config-type-int", lambda env: inseq.register_model_config(42, {}), T, ("model_type", "42")),
    Case(
        "model-config-module-int",
        lambda env: inseq.register_model_config("RelModel", {"self_attention_module": 5}, allow_partial=True),
        T,
        ("self_attention_module", "5"),
    ),
    Case(
        "model-config-module-bad-name",
        lambda env: inseq.register_model_config("RelModel", {"value_vector": "v proj"}, allow_partial=True),
        T,
        ("'v proj'",),
    ),
    Case("model-config-not-dict", lambda env: inseq.register_model_config("RelModel", "attn"), T, ("'attn'",)),
    Case(
        "model-config-unknown-field",
        lambda env: inseq.register_model_config("RelModel", {"nope": "x"}, allow_partial=True),
        ValueError,
        ("'nope'",),
    ),
    Case(
        "method-not-class",
        lambda env: register_attribution_method(42),
        TypeError,
        ("register_attribution_method(): cls must be a FeatureAttribution subclass, got 42 (int).",),
    ),
    Case(
        "step-fn-overwrite-str",
        lambda env: inseq.register_step_function(_step_none, "rel_o", overwrite="yes"),
        T,
        ("overwrite", "'yes'"),
    ),
    Case(
        "step-fn-aggregate-map-int",
        lambda env: inseq.register_step_function(_step_none, "rel_m", aggregate_map=5),
        TypeError,
        ("aggregate_map", "int"),
    ),
    Case(
        "model-config-overwrite-str",
        lambda env: inseq.register_model_config("RelModel", {}, overwrite="x", allow_partial=True),
        T,
        ("overwrite", "'x'"),
    ),
    Case(
        "merge-int",
        lambda env: inseq.merge_attributions([1]),
        TypeError,
        ("merge_attributions(): attributions[0] must be a FeatureAttributionOutput, got 1 (int).",),
    ),
    Case("merge-empty", lambda env: inseq.merge_attributions([]), ValueError, ("empty",)),
    Case(
        "aggregation-fn-not-callable",
        lambda env: register_aggregation_function(42, "rel"),
        TypeError,
        ("register_aggregation_function(): fn must be callable, got 42 (int).",),
    ),
]


def _manifest(env, name: str, content: str) -> Path:
    folder = env.tmp / name
    folder.mkdir(exist_ok=True)
    (folder / "manifest.json").write_text(content)
    return folder / "manifest.json"


_GOOD_MANIFEST = {"signature": {}, "total_rows": 2, "done": {}, "skipped": {}, "finished": False}


def _manifest_with(**changes):
    return json.dumps({**_GOOD_MANIFEST, **changes})


CLI_CASES = [
    Case(
        "manifest-corrupt",
        lambda env: read_manifest(_manifest(env, "m1", "{trunc")),
        CommandError,
        ("manifest.json", "corrupt", "--overwrite"),
    ),
    Case("manifest-list", lambda env: read_manifest(_manifest(env, "m2", "[]")), CommandError, ("list",)),
    Case(
        "manifest-missing-field",
        lambda env: read_manifest(_manifest(env, "m3", json.dumps({"done": {}}))),
        CommandError,
        ("'signature'",),
    ),
    Case(
        "manifest-total-str",
        lambda env: read_manifest(_manifest(env, "m4", _manifest_with(total_rows="2"))),
        CommandError,
        ("'total_rows'", "str"),
    ),
    Case(
        "manifest-done-bad-key",
        lambda env: read_manifest(_manifest(env, "m5", _manifest_with(done={"x": "f"}))),
        CommandError,
        ("manifest.json: done entry 'x':",),
    ),
    Case("manifest-deep", lambda env: read_manifest(_manifest(env, "m6", "[" * 100_000)), CommandError, ("corrupt",)),
    Case(
        "topk-negative",
        lambda env: check_cli_options({"context_sensitivity_topk": -3}),
        CommandError,
        ("--context_sensitivity_topk", "-3"),
    ),
    Case(
        "topk-zero",
        lambda env: check_cli_options({"attribution_topk": 0}),
        CommandError,
        ("--attribution_topk must be a positive integer, got 0.",),
    ),
    Case(
        "topk-str",
        lambda env: check_cli_options({"attribution_topk": "3"}),
        CommandError,
        ("--attribution_topk must be a positive integer, got '3'.",),
    ),
    Case(
        "threshold-nan",
        lambda env: check_cli_options({"attribution_std_threshold": float("nan")}),
        CommandError,
        ("--attribution_std_threshold", "nan"),
    ),
    Case(
        "threshold-str",
        lambda env: check_cli_options({"context_sensitivity_std_threshold": "1"}),
        CommandError,
        ("--context_sensitivity_std_threshold must be a finite number, got '1'.",),
    ),
    Case("batch-size-zero-cli", lambda env: check_cli_options({"batch_size": 0}), CommandError, ("--batch_size", "0")),
    Case("max-rows-negative", lambda env: check_cli_options({"max_rows": -1}), CommandError, ("--max_rows", "-1")),
    Case(
        "attribute-context-topk",
        lambda env: attribute_context(
            model_name_or_path=env.gpt2_path, input_current_text="the cat", context_sensitivity_topk=-3, show_viz=False
        ),
        CommandError,
        ("--context_sensitivity_topk must be a positive integer, got -3.",),
    ),
]

BAD_CASES = LOAD_CASES + ATTRIBUTE_CASES + AGGREGATE_CASES + SHOW_CASES + SAVE_LOAD_CASES + REGISTER_CASES + CLI_CASES
RAISING = [c for c in BAD_CASES if c.exc is not None]


def test_matrix_size():
    assert len(RAISING) >= 150, len(RAISING)


def test_every_case_asserts_more_than_a_bare_value():
    """A fragment of 3 characters or fewer ("2", "42") passes almost any message: each case names its value in
    context (with its parameter name or the sentence around it)."""
    weak = [c.id for c in RAISING if not any(len(name) > 3 for name in c.names)]
    assert not weak, f"cases asserting only short fragments: {weak}"


def _check_raised(err: BaseException, case: Case) -> None:
    message = str(err)
    for name in case.names:
        assert name in message, f"{name!r} not named in: {message}"
    assert not isinstance(err, BARE) or isinstance(err, InseqError), f"bare {type(err).__name__}: {message}"
    last = traceback.extract_tb(err.__traceback__)[-1].filename
    assert not any(f"{os.sep}{pkg}{os.sep}" in last for pkg in FOREIGN), f"raised from {last}: {message}"


@pytest.mark.parametrize("case", RAISING, ids=[c.id for c in RAISING])
def test_bad_input(env, case: Case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(case.exc) as info:
            case.call(env)
    _check_raised(info.value, case)


def test_failed_registration_leaves_no_trace(env):
    with pytest.raises(ValueError):
        _bad_aggregate_map(env)
    assert "rel_fails" not in inseq.list_step_functions()


# ---------------------------------------------------------------------------------------------------- valid edges


@pytest.mark.parametrize(
    "text",
    ["cat", "   the   cat   ", "the cat 🐈 is", "the\ncat", "a" * 50, "the cat" + "\u200b"],
    ids=["one-word", "spaces", "emoji", "newline", "long-word", "zero-width"],
)
def test_valid_odd_texts_give_finite_scores(env, text):
    out = env.gpt2.attribute(
        text, generation_args={"max_new_tokens": 2}, step_scores=["probability"], show_progress=False
    )
    probs = out[0].step_scores["probability"]
    assert probs.numel() >= 1 and torch.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()


def test_truncate_inputs_opt_in(env):
    with pytest.warns(UserWarning, match="truncated from"):
        out = env.gpt2.attribute(
            LONG_TEXT, generation_args={"max_new_tokens": 2}, truncate_inputs=True, show_progress=False
        )
    assert len(out[0].target) <= 256 and torch.isfinite(out[0].target_attributions[:, 0][:-2]).all()


def test_truncate_inputs_encoder_decoder(env):
    with pytest.warns(UserWarning, match="truncated from"):
        out = env.bart.attribute(
            LONG_TEXT, generation_args={"max_new_tokens": 2}, truncate_inputs=True, show_progress=False
        )
    assert len(out[0].source) == 256 and torch.isfinite(out[0].source_attributions).all()


def test_exact_limit_fits(env):
    prompt_ids = env.gpt2.tokenizer(" ".join(["cat"] * 300))["input_ids"][:250]
    text = env.gpt2.tokenizer.decode(prompt_ids)
    out = env.gpt2.attribute(
        text, generation_args={"max_new_tokens": 256 - len(env.gpt2.encode(text).input_ids[0])}, show_progress=False
    )
    assert len(out[0].target) <= 256


def test_numpy_and_tuple_arguments_are_accepted(env):
    import numpy as np

    out = env.gpt2.attribute(
        ("the cat",), ("the cat is on",), attr_pos_start=np.int64(3), step_scores=("probability",), show_progress=False
    )
    assert out[0].attr_pos_start == 3 and torch.isfinite(out[0].step_scores["probability"]).all()


def test_nan_attributed_function_is_reported(env):
    with pytest.warns(UserWarning, match="_step_nan.*non-finite"):
        env.gpt2.attribute("the cat", "the cat is", attributed_fn=_step_nan, show_progress=False)


def test_contrastive_with_targets_is_not_refused(env):
    out = env.gpt2.attribute(
        "the cat",
        "the cat is",
        attributed_fn="contrast_prob_diff",
        contrast_targets="the cat was",
        show_progress=False,
    )
    assert torch.isfinite(out[0].target_attributions[:3, 0]).all()


def test_show_valid_range_renders(env):
    html = env.out.show(min_val=-1, max_val=1, display=False, return_html=True)
    assert isinstance(html, str) and "<" in html


def test_aggregate_user_function_with_kwargs_is_open(env):
    out = env.out.aggregate("scores", aggregate_fn=lambda t, dim, **kw: t.sum(dim), custom_option=1)
    assert out[0].target_attributions.ndim == 2


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_file_mode_follows_umask(env, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        env.out.save(tmp_path / "mode.json")
    finally:
        os.umask(old)
    assert ((tmp_path / "mode.json").stat().st_mode & 0o777) == mode


@pytest.mark.parametrize("key", ["trunc", "badcfg", "cfgfile"])
def test_loader_errors_keep_their_cause(env, key):
    with pytest.raises(ModelLoadError) as info:
        inseq.load_model(getattr(env, key))
    assert info.value.__cause__ is not None and getattr(env, key) in str(info.value)


def test_stale_temporary_is_cleaned_on_next_save(env, tmp_path):
    target = tmp_path / "o.json"
    stale = tmp_path / ".o.json.999999999.abcd.tmp"  # a pid that cannot exist
    stale.write_text("partial")
    old_style = tmp_path / ".o.json.xyz.tmp"
    old_style.write_text("partial")
    os.utime(old_style, (1, 1))
    env.out.save(target)
    assert not stale.exists() and not old_style.exists() and target.exists()
    assert clean_stale_temps(target) == []


def test_gzip_round_trip_within_limits(env, tmp_path):
    env.out.save(tmp_path / "o.json.gz", compress=True)
    loaded = inseq.FeatureAttributionOutput.load(tmp_path / "o.json.gz")
    assert loaded == env.out


def test_jsonl_bad_rows_keep_true_line_numbers(tmp_path):
    from inseq.pipelines import LoadDatasetArgs, load_rows

    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(['{"text": "a"}', "", "{broken", "[1, 2]", '{"text": "b"}', "42"]) + "\n")
    rows = load_rows(LoadDatasetArgs(dataset_name=str(path), input_text_field="text"))
    assert [r.line for r in rows] == [1, 3, 4, 5, 6]
    assert [r.error is None for r in rows] == [True, False, False, True, False]
    assert rows[1].error.startswith("invalid JSON")
    assert rows[2].error == "expected a JSON object, got list"
    assert rows[4].error == "expected a JSON object, got int"


def test_run_temporaries_cleaned(tmp_path):
    rows = tmp_path / "rows"
    rows.mkdir()
    (rows / "row_0000001.json.tmp").write_text("x")
    (tmp_path / ".manifest.json.tmp-999999999").write_text("x")
    (rows / ".row_0000002.json.tmp.999999999.k3j2.tmp").write_text("x")
    alive = rows / f".row_0000003.json.tmp.{os.getppid()}.k3j2.tmp"
    alive.write_text("x")
    (rows / "row_0000000.json").write_text("{}")
    removed = clean_run_temps(tmp_path)
    assert len(removed) == 3 and (rows / "row_0000000.json").exists() and alive.exists()


def test_valid_manifest_reads(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({**_GOOD_MANIFEST, "done": {"0": "rows/row_0000000.json"}}))
    assert read_manifest(path)["done"] == {"0": "rows/row_0000000.json"}


def test_cli_topk_exits_nonzero(env, capsys):
    from inseq.commands.cli import main

    code = main(
        [
            "attribute-context",
            "--model_name_or_path",
            env.gpt2_path,
            "--input_current_text",
            "the cat",
            "--context_sensitivity_topk",
            "-3",
            "--show_viz",
            "False",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "--context_sensitivity_topk must be a positive integer, got -3" in captured.err
    assert "Traceback" not in captured.err


def test_dataset_run_skips_malformed_jsonl_lines_and_refuses_corrupt_manifest(env, tmp_path, capsys):
    from inseq.commands.attribute_dataset import Manifest
    from inseq.commands.cli import main

    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "the cat"}\n\n{"text": broken\n[1, 2]\n{"text": "a dog"}\n')
    outdir = tmp_path / "run"
    base = [
        "attribute-dataset",
        "-m",
        env.gpt2_path,
        "-d",
        str(data),
        "-in",
        "text",
        "--generation_kwargs",
        '{"max_new_tokens": 2}',
        "--output_dir",
        str(outdir),
        "--hide",
    ]
    assert main(base) == 0
    manifest = Manifest.load(outdir)
    assert sorted(manifest.done) == [0, 3] and sorted(manifest.skipped) == [1, 2]
    assert manifest.lines == {1: 3, 2: 4}  # the true line numbers of the skipped rows
    assert "invalid JSON" in manifest.skipped[1] and "expected a JSON object" in manifest.skipped[2]
    stale = outdir / "rows" / "row_0000009.json.tmp"
    stale.write_text("partial")
    (outdir / "manifest.json").write_text('{"signature": {}, "done": ')
    capsys.readouterr()
    assert main([*base, "--resume"]) == 1
    err = capsys.readouterr().err
    assert "manifest.json is corrupt" in err and "Traceback" not in err
    assert stale.exists()  # a refused resume leaves the run folder untouched
    (outdir / "manifest.json").write_text(
        json.dumps({**_GOOD_MANIFEST, "signature": manifest.signature, "total_rows": 4, "done": {}, "skipped": {}})
    )
    assert main([*base, "--resume"]) == 0
    assert not stale.exists()

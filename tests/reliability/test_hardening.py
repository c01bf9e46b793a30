"""The last raw and silent answers (issue 23, items 1-7): each bad input is refused where it enters, by name and value.

Every test here failed on the code before the issue: a raw Python error from deep inside, a silent wrong answer, a
skipped row for a bug, or memory growing by a gzip bomb's inflated size.
"""

from __future__ import annotations

import pytest

import inseq
from inseq.utils.errors import InvalidArgumentError, InvalidArgumentTypeError


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_gpt2_path), "saliency")


@pytest.fixture(scope="module")
def gpt2_out(gpt2):
    return gpt2.attribute("the cat", generation_args={"max_new_tokens": 2}, show_progress=False)


# ------------------------------------------------------------------------------------------- 1. evaluate() options


@pytest.mark.parametrize(
    ("options", "exc", "message"),
    [
        ({"fractions": [2.0]}, InvalidArgumentError, "fractions[0] must be a finite number > 0.0 <= 1.0, got 2.0."),
        ({"fractions": [-1.0]}, InvalidArgumentError, "fractions[0] must be a finite number > 0.0 <= 1.0, got -1.0."),
        (
            {"fractions": [0.1, 0.0]},
            InvalidArgumentError,
            "fractions[1] must be a finite number > 0.0 <= 1.0, got 0.0",
        ),
        ({"fractions": [float("nan")]}, InvalidArgumentError, "fractions[0] must be a finite number > 0.0 <= 1.0"),
        ({"fractions": "0.1"}, InvalidArgumentTypeError, "fractions must be a list of numbers in (0, 1]"),
        ({"fractions": 0.1}, InvalidArgumentTypeError, "got 0.1 (float)"),
        (
            {"fractions": ["0.1"]},
            InvalidArgumentTypeError,
            "fractions[0] must be a finite number > 0.0 <= 1.0, got '0.1'",
        ),
        ({"fractions": []}, InvalidArgumentError, "fractions must hold at least one number in (0, 1], got []."),
        ({"curve_steps": 0}, InvalidArgumentError, "curve_steps must be an int >= 1, got 0."),
        ({"soft_samples": 0}, InvalidArgumentError, "soft_samples must be an int >= 1, got 0."),
        ({"soft_samples": 2.0}, InvalidArgumentTypeError, "soft_samples must be an int >= 1, got 2.0 (float)."),
        ({"batch_size": 0}, InvalidArgumentError, "batch_size must be an int >= 1 or None, got 0."),
        ({"batch_size": "2"}, InvalidArgumentTypeError, "batch_size must be an int >= 1 or None, got '2' (str)."),
        ({"random_seeds": True}, InvalidArgumentTypeError, "random_seeds must be an int >= 0, got True (bool)."),
        ({"random_seeds": -1}, InvalidArgumentError, "random_seeds must be an int >= 0, got -1."),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else "",
)
def test_evaluate_refuses_bad_numeric_options(gpt2, gpt2_out, options, exc, message):
    with pytest.raises(exc) as info:
        gpt2.evaluate(gpt2_out, ["comprehensiveness"], **options)
    assert message in str(info.value)


def test_evaluate_valid_edge_options_still_run(gpt2, gpt2_out):
    res = gpt2.evaluate(
        gpt2_out, ["comprehensiveness", "soft_comprehensiveness"], fractions=(1.0,), soft_samples=1, random_seeds=0
    )
    assert res.summary()["value"].notna().all()


# ------------------------------------------------------------------------------------------------ 2. show() dims


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"slice_dims": "x"}, InvalidArgumentTypeError, "show(): slice_dims must be a dict"),
        ({"slice_dims": [(0, 1)]}, InvalidArgumentTypeError, "got [(0, 1)] (list)"),
        ({"slice_dims": {2: "0:3"}}, InvalidArgumentTypeError, "show(): slice_dims[2] must be a (start, end) pair"),
        ({"slice_dims": {2: (0, 1.5)}}, InvalidArgumentTypeError, "got (0, 1.5) (tuple)"),
        ({"slice_dims": {2.5: (0, 1)}}, InvalidArgumentTypeError, "show(): slice_dims keys must be dimension"),
        ({"slice_dims": {2: (3, 1)}}, InvalidArgumentError, "show(): slice_dims[2]=(3, 1) must satisfy 0 <= start"),
        ({"show_dim": 1.5}, InvalidArgumentTypeError, "show(): show_dim must be a dimension index (int)"),
        ({"max_show_size": 0}, InvalidArgumentError, "show(): max_show_size must be an int >= 1 or None, got 0."),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else "",
)
@pytest.mark.parametrize("target", ["output", "sequence", "granular"])
def test_show_refuses_bad_dimension_arguments(gpt2_out, kwargs, exc, message, target):
    shown = {"output": gpt2_out.show, "sequence": gpt2_out[0].show, "granular": gpt2_out.show_granular}[target]
    with pytest.raises(exc) as info:
        shown(display=False, return_html=True, **kwargs)
    assert message in str(info.value)


def test_show_valid_slice_dims_still_render(gpt2_out):
    html = gpt2_out.show(display=False, return_html=True, slice_dims={0: (0, 1)}, show_dim=None)
    assert "<table" in html or "<div" in html


# ---------------------------------------------------------------------------------- 3. signatures checked at entry


def _no_params():
    return 0


def test_attribute_refuses_attributed_fn_without_a_positional_parameter(gpt2):
    with pytest.raises(InvalidArgumentTypeError) as info:
        gpt2.attribute("the cat", attributed_fn=_no_params, generation_args={"max_new_tokens": 1}, show_progress=False)
    msg = str(info.value)
    assert "attribute(): attributed_fn '_no_params' has the signature ()" in msg
    assert "expected fn(args: StepFunctionArgs, **kwargs) -> Tensor" in msg


def test_attribute_refuses_a_callable_object_without_a_positional_parameter(gpt2):
    class Scorer:
        def __call__(self):
            return 0

    with pytest.raises(
        InvalidArgumentTypeError, match=r"attribute\(\): attributed_fn 'Scorer' has the signature \(\)"
    ):
        gpt2.attribute("the cat", attributed_fn=Scorer(), generation_args={"max_new_tokens": 1}, show_progress=False)


def test_evaluate_refuses_attributed_fn_without_a_positional_parameter(gpt2, gpt2_out):
    with pytest.raises(InvalidArgumentTypeError, match=r"evaluate\(\): attributed_fn '_no_params' has the signature"):
        gpt2.evaluate(gpt2_out, ["comprehensiveness"], attributed_fn=_no_params)


def test_register_step_function_refuses_a_function_without_a_positional_parameter():
    with pytest.raises(InvalidArgumentTypeError) as info:
        inseq.register_step_function(lambda: 0, "issue23_no_params", overwrite=True)
    msg = str(info.value)
    assert (
        "register_step_function(): the step function for 'issue23_no_params', '<lambda>' has the signature ()" in msg
    )
    assert "issue23_no_params" not in inseq.list_step_functions()


def test_custom_step_function_with_keywords_still_runs(gpt2):
    def top_logit(args, scale: float = 1.0):
        return args.logits.max(-1).values * scale

    inseq.register_step_function(top_logit, "issue23_top_logit", overwrite=True)
    out = gpt2.attribute(
        "the cat",
        step_scores=["issue23_top_logit"],
        scale=2.0,
        generation_args={"max_new_tokens": 1},
        show_progress=False,
    )
    assert out[0].step_scores["issue23_top_logit"].shape[0] == 1


@pytest.mark.parametrize(
    "fn",
    [lambda scores: scores.sum(-1), lambda: 0, lambda *, scores, dim: scores.sum(dim)],
    ids=["one-positional", "none", "keyword-only"],
)
def test_register_aggregation_function_refuses_a_wrong_signature(fn):
    from inseq.data.aggregation_functions import list_aggregation_functions, register_aggregation_function

    with pytest.raises(InvalidArgumentTypeError) as info:
        register_aggregation_function(fn, "issue23_bad_agg", overwrite=True)
    msg = str(info.value)
    assert "register_aggregation_function(): the aggregation function for 'issue23_bad_agg', '<lambda>'" in msg
    assert "expected fn(scores: Tensor, dim: int, **kwargs) -> Tensor" in msg
    assert "issue23_bad_agg" not in list_aggregation_functions()


def test_registered_aggregation_function_without_kwargs_gets_only_its_keywords(gpt2_out):
    from inseq.data.aggregation_functions import register_aggregation_function

    register_aggregation_function(lambda scores, dim: scores.sum(dim), "issue23_plain_sum", overwrite=True)
    agg = gpt2_out[0].aggregate("scores", aggregate_fn="issue23_plain_sum", vnorm_ord=1)
    assert agg.source_attributions is not None or agg.target_attributions is not None


# ------------------------------------------------------------------------------------------------ 4. load dtypes


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"model_kwargs": {"torch_dtype": "float77"}}, InvalidArgumentError, "model_kwargs['torch_dtype']='float77'"),
        ({"model_kwargs": {"dtype": "float77"}}, InvalidArgumentError, "model_kwargs['dtype']='float77'"),
        ({"torch_dtype": "float77"}, InvalidArgumentError, "load_model(): torch_dtype='float77' is not a torch dtype"),
        ({"model_kwargs": {"dtype": "int8"}}, InvalidArgumentError, "model_kwargs['dtype']='int8' is not a floating"),
        ({"model_kwargs": {"dtype": 16}}, InvalidArgumentTypeError, "Got 16 (int)."),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else "",
)
def test_load_model_names_a_bad_dtype_and_lists_the_valid_ones(tiny_gpt2_path, kwargs, exc, message):
    with pytest.raises(exc) as info:
        inseq.load_model(str(tiny_gpt2_path), "saliency", **kwargs)
    msg = str(info.value)
    assert message in msg
    assert "valid: 'auto', 'float32', 'float16', 'bfloat16', 'float64'" in msg
    assert "complete transformers model" not in msg


def test_load_model_valid_dtype_still_loads(tiny_gpt2_path):
    import torch

    model = inseq.load_model(str(tiny_gpt2_path), "saliency", model_kwargs={"dtype": "bfloat16"})
    assert model.model.dtype == torch.bfloat16


def test_loader_dtype_error_is_not_blamed_on_the_folder(tmp_path):
    from inseq.models.loading import likely_cause

    err = ValueError("GPT2LMHeadModel cannot be instantiated under `dtype=torch.float8_e4m3fn`")
    assert (
        likely_cause(str(tmp_path), err)
        == "the dtype option (torch_dtype / dtype) is not one the model can be loaded in"
    )


# ------------------------------------------------------------------------------- 5. dataset run: which errors skip


def _dataset(tmp_path, lines: list[str]):
    from inseq.pipelines import LoadDatasetArgs

    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return LoadDatasetArgs(dataset_name=str(data), input_text_field="text")


def _run_args(gpt2):
    from inseq.pipelines import AttributeExtendedArgs

    return AttributeExtendedArgs(
        model_name_or_path=gpt2, device="cpu", generation_kwargs={"max_new_tokens": 1}, batch_size=2
    )


def _failing_on(monkeypatch, word: str, error: Exception) -> None:
    import importlib

    module = importlib.import_module("inseq.pipelines.attribute_dataset")
    real = module.attribute_texts

    def attribute_texts(model, texts, *args, **kwargs):
        if any(word in t for t in texts):
            raise error
        return real(model, texts, *args, **kwargs)

    monkeypatch.setattr(module, "attribute_texts", attribute_texts)


def test_dataset_run_stops_on_an_error_that_is_not_the_rows_fault(gpt2, tmp_path, monkeypatch):
    from inseq.pipelines import DatasetRunArgs, Manifest, attribute_dataset

    _failing_on(monkeypatch, "boom", RuntimeError("CUDA error: an illegal memory access was encountered"))
    dataset = _dataset(tmp_path, ['{"text": "the cat"}', '{"text": "a dog"}', '{"text": "boom now"}'])
    with pytest.raises(RuntimeError, match="illegal memory access"):
        attribute_dataset(
            _run_args(gpt2), dataset, DatasetRunArgs(output_dir=str(tmp_path / "run")), show_progress=False
        )
    manifest = Manifest.load(tmp_path / "run")
    assert sorted(manifest.done) == [0, 1] and manifest.skipped == {} and not manifest.finished


def test_dataset_run_skips_a_row_whose_input_is_refused(gpt2, tmp_path, monkeypatch):
    from inseq.pipelines import attribute_dataset
    from inseq.utils.errors import InputTooLongError

    _failing_on(monkeypatch, "long", InputTooLongError("input_texts[0] has 900 tokens, the model has 64 positions"))
    dataset = _dataset(tmp_path, ['{"text": "the cat"}', '{"text": "too long"}', '{"text": "bad \\ud800 x"}'])
    result = attribute_dataset(_run_args(gpt2), dataset, show_progress=False)
    assert result.done == 1 and sorted(result.skipped) == [1, 2]
    assert result.skipped[1] == (
        "attribution failed: InputTooLongError: input_texts[0] has 900 tokens, the model has 64 positions"
    )
    assert result.skipped[2].startswith("input text contains the character '\\ud800' at index 4")


def test_dataset_cli_where_every_row_is_skipped_exits_non_zero(tiny_gpt2_path, tmp_path, capsys):
    from inseq.commands.cli import main

    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "unclosed\n', encoding="utf-8")
    code = main(["attribute-dataset", "-m", str(tiny_gpt2_path), "-d", str(data), "-in", "text", "--hide"])
    captured = capsys.readouterr()
    assert code == 1
    assert (
        "inseq attribute-dataset: error: every row was skipped (1 of 1 rows): nothing was attributed." in captured.err
    )
    assert (
        "0/1 rows attributed" in captured.out and "skipped row 0 (line 1 of data.jsonl): invalid JSON" in captured.out
    )


# ---------------------------------------------------------------------------------- 6. gzip inflation bounded


def _bomb(tmp_path, inflated: int, name: str = "bomb.json.gz"):
    import gzip

    path = tmp_path / name
    path.write_bytes(gzip.compress(b"{" + b" " * inflated + b"}", compresslevel=9, mtime=0))
    return path


def _peak_while(fn) -> tuple[int, Exception | None]:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        error = None
    except Exception as err:  # noqa: BLE001 - returned for the caller to assert on
        error = err
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, error


def test_gzip_bomb_is_refused_at_the_env_bound_while_inflating(tmp_path, monkeypatch):
    from inseq.utils.errors import AttributionFileError

    path = _bomb(tmp_path, 64 << 20)
    monkeypatch.setenv("INSEQ_MAX_INFLATED_BYTES", str(4 << 20))
    peak, error = _peak_while(lambda: inseq.FeatureAttributionOutput.load(path))
    assert isinstance(error, AttributionFileError)
    msg = str(error)
    assert f"{path} inflates to more than {4 << 20} bytes" in msg
    assert "$INSEQ_MAX_INFLATED_BYTES" in msg and "max_inflated_bytes=" in msg
    assert peak < 8 << 20, f"inflating a 64 MiB bomb under a 4 MiB bound peaked at {peak} bytes"


def test_gzip_bomb_is_refused_at_the_parameter_bound(tmp_path):
    from inseq.utils.errors import AttributionFileError

    path = _bomb(tmp_path, 8 << 20)
    with pytest.raises(AttributionFileError) as info:
        inseq.FeatureAttributionOutput.load(path, max_inflated_bytes=1 << 20)
    assert f"{path} inflates to more than {1 << 20} bytes" in str(info.value)


@pytest.mark.parametrize(
    ("value", "exc", "message"),
    [
        ("1", InvalidArgumentTypeError, "max_inflated_bytes must be an int >= 1, got '1' (str)."),
        (0, InvalidArgumentError, "max_inflated_bytes must be an int >= 1, got 0."),
    ],
)
def test_load_refuses_a_bad_inflation_bound(tmp_path, value, exc, message):
    path = _bomb(tmp_path, 10)
    with pytest.raises(exc) as info:
        inseq.FeatureAttributionOutput.load(path, max_inflated_bytes=value)
    assert message in str(info.value)


def test_load_refuses_a_bad_inflation_bound_env(tmp_path, monkeypatch):
    monkeypatch.setenv("INSEQ_MAX_INFLATED_BYTES", "lots")
    with pytest.raises(InvalidArgumentError, match=r"INSEQ_MAX_INFLATED_BYTES='lots' must be a positive number"):
        inseq.FeatureAttributionOutput.load(_bomb(tmp_path, 10))


def test_default_inflation_bound_is_well_under_memory(monkeypatch):
    from inseq.data import schema

    monkeypatch.delenv("INSEQ_MAX_INFLATED_BYTES", raising=False)
    assert schema.inflate_limit() == schema.MAX_DECOMPRESSED_BYTES == 256 << 20


def test_compressed_output_still_round_trips_within_a_bound(gpt2_out, tmp_path):
    path = tmp_path / "out.json.gz"
    gpt2_out.save(path, compress=True, overwrite=True)
    loaded = inseq.FeatureAttributionOutput.load(path, max_inflated_bytes=64 << 20)
    assert loaded[0].target == gpt2_out[0].target


def test_gunzip_limited_streams_concatenated_members_across_chunks():
    import gzip

    from inseq.data import schema

    first, second = b"a" * (3 << 20), b"b" * 10
    data = gzip.compress(first, mtime=0) + gzip.compress(second, mtime=0)
    pieces = iter([data[i : i + 7] for i in range(0, len(data), 7)])
    assert bytes(schema.gunzip_limited(lambda n: next(pieces, b""), "<two members>", 4 << 20)) == first + second
    with pytest.raises(ValueError, match="<cut> is a truncated gzip file"):
        schema.gunzip_limited(data[:-5], "<cut>", 4 << 20)


def test_gzipped_array_payload_inflates_no_more_than_its_shape():
    import base64
    import gzip

    from inseq.data.serialization import json_advanced_loads

    payload = base64.b64encode(gzip.compress(b"\0" * (32 << 20), mtime=0)).decode("ascii")
    text = '{"__ndarray__": "b64.gz:' + payload + '", "dtype": "float32", "shape": [2]}'
    peak, error = _peak_while(lambda: json_advanced_loads(text))
    assert isinstance(error, ValueError)
    assert "__ndarray__ of shape [2] inflates to more than the 8 bytes of its shape" in str(error)
    assert peak < 6 << 20, f"a 32 MiB array payload for 8 bytes peaked at {peak} bytes"


# ------------------------------------------------------------------------------ 7. PECoRe source ids not found


def test_cci_source_offset_raises_when_the_source_ids_are_not_in_the_tokens():
    from inseq.context.args import ContextAttributionError
    from inseq.context.cci import model_offset_in
    from inseq.utils.typing import TokenWithId

    tokens = [TokenWithId("▁Le", 12), TokenWithId("▁chat", 40), TokenWithId("</s>", 0)]
    assert model_offset_in(tokens, [40, 0]) == 1
    with pytest.raises(ContextAttributionError) as info:
        model_offset_in(tokens, [12, 41])
    msg = str(info.value)
    assert "The attributed source ids [12, 40, 0] (tokens ['▁Le', '▁chat', '</s>'])" in msg
    assert "do not contain the encoded source ids [12, 41]" in msg


def test_cci_context_scores_do_not_read_row_zero_for_a_missing_source():
    from types import SimpleNamespace

    import torch

    from inseq.context.args import ContextAttributionError
    from inseq.context.cci import context_scores
    from inseq.utils.typing import TokenWithId

    seq = SimpleNamespace(
        source=[TokenWithId(str(i), i) for i in range(30, 34)],
        source_attributions=torch.arange(4.0)[:, None],
        target_attributions=None,
    )
    contextual = SimpleNamespace(
        source=SimpleNamespace(ids=[7, 8, 9]), input_context=range(0, 2), output_context=range(0, 0)
    )
    with pytest.raises(ContextAttributionError, match=r"do not contain the encoded source ids \[7, 8, 9\]"):
        context_scores(seq, contextual, 0)


def test_cci_long_id_lists_are_shortened_in_the_error():
    from inseq.context.args import ContextAttributionError
    from inseq.context.cci import model_offset_in
    from inseq.utils.typing import TokenWithId

    with pytest.raises(ContextAttributionError) as info:
        model_offset_in([TokenWithId("x", i) for i in range(100)], [500])
    assert "22, 23, ... (100 in all)]" in str(info.value)

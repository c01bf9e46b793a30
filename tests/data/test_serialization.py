import base64
import gzip
import json
import os

import pytest
import torch
from conftest import make_decoder_only, make_encdec
from safetensors.torch import save as safetensors_save

from inseq.data import (
    FeatureAttributionOutput,
    FeatureAttributionSequenceOutput,
    GranularFeatureAttributionStepOutput,
    MultiDimensionalFeatureAttributionSequenceOutput,
)
from inseq.utils.typing import TokenWithId


def all_outputs():
    return [
        make_encdec(),
        make_encdec(FeatureAttributionSequenceOutput, extra=(3,)),
        make_encdec(MultiDimensionalFeatureAttributionSequenceOutput, extra=(2, 3)),
        make_decoder_only(),
    ]


@pytest.mark.parametrize("seq", all_outputs(), ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_every_kind(tmp_path, seq, compress):
    out = FeatureAttributionOutput([seq], info={"model_name": "toy", "texts": ["x"], "n": 3})
    path = tmp_path / "out.json"
    out.save(path, compress=compress)
    loaded = FeatureAttributionOutput.load(path, decompress=compress)
    assert loaded == out and type(loaded[0]) is type(seq)
    assert loaded[0].aggregate() == seq.aggregate()
    if compress:
        assert path.read_bytes()[:2] == b"\x1f\x8b"


@pytest.mark.parametrize(("precision", "rtol"), [("float32", 1e-6), ("float16", 1e-3), ("float8", 1e-1)])
def test_precisions(tmp_path, precision, rtol):
    out = FeatureAttributionOutput([make_encdec()])
    with pytest.warns(UserWarning, match="experimental") if precision == "float8" else _nullcontext():
        out.save(tmp_path / "p.json", scores_precision=precision)
    loaded = FeatureAttributionOutput.load(tmp_path / "p.json")[0]
    original = out[0]
    assert loaded.source_attributions.dtype == torch.float32
    assert torch.allclose(loaded.source_attributions, original.source_attributions, rtol=rtol, atol=1e-3)
    assert torch.allclose(loaded.target_attributions, original.target_attributions, rtol=rtol, equal_nan=True)
    with pytest.raises(ValueError, match="Unknown scores_precision 'int4'"):
        out.save(tmp_path / "q.json", scores_precision="int4")


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def test_overwrite_and_split(tmp_path, output):
    path = tmp_path / "run.json"
    output.save(path)
    with pytest.raises(ValueError, match="already exists"):
        output.save(path)
    output.save(path, overwrite=True)
    output.save(path, split_sequences=True)
    parts = [FeatureAttributionOutput.load(tmp_path / f"run_{i}.json") for i in range(2)]
    assert [p.info["input_texts"] for p in parts] == [["a"], ["b"]]
    assert parts[0][0] == output[0] and parts[1][0] == output[1]


def test_step_attributions_round_trip(tmp_path):
    step = GranularFeatureAttributionStepOutput(
        source_attributions=torch.rand(1, 4, 2),
        step_scores={"probability": torch.tensor([0.3])},
        source=[[TokenWithId("a", 1)]],
        prefix=[[TokenWithId("<s>", 0)]],
        target=[[TokenWithId("b", 2)]],
    )
    out = FeatureAttributionOutput([make_encdec()], step_attributions=[step], info={"arr": torch.arange(3)})
    for compact in (True, False):
        out.save(tmp_path / "s.json", overwrite=True, ndarray_compact=compact)
        loaded = FeatureAttributionOutput.load(tmp_path / "s.json")
        assert loaded.step_attributions == [step]
        assert loaded.info["arr"].tolist() == [0, 1, 2]


def test_use_primitives_writes_plain_json(tmp_path, output):
    output.save(tmp_path / "plain.json", use_primitives=True)
    data = json.loads((tmp_path / "plain.json").read_text())
    assert "__instance_type__" not in json.dumps(data)
    assert data["sequence_attributions"][0]["source"][0] == {"id": 0, "token": "▁Hel"}
    with pytest.raises(ValueError, match="use_primitives"):
        FeatureAttributionOutput.load(tmp_path / "plain.json")


def _tag(module, name, attrs):
    return {"__instance_type__": [module, name], "attributes": attrs}


def _blob(tensor):
    return base64.b64encode(safetensors_save({"attribution": tensor})).decode()


def _inseq07_document(source_attr):
    tok = lambda t, i: _tag("inseq.utils.typing", "TokenWithId", {"id": i, "token": t})
    seq = _tag(
        "inseq.data.attribution",
        "GranularFeatureAttributionSequenceOutput",
        {
            "attr_pos_end": 2,
            "attr_pos_start": 1,
            "sequence_scores": None,
            "source": [tok("Hello", 10), tok("world", 11)],
            "source_attributions": source_attr,
            "step_scores": {"probability": _blob(torch.tensor([0.25]))},
            "target": [tok("<s>", 0), tok("Ciao", 12)],
            "target_attributions": _blob(torch.tensor([[[1.0, 0.0]], [[float("nan"), float("nan")]]])),
        },
    )
    info = {"model_name": "toy", "attribution_method": "saliency", "input_texts": ["Hello world"]}
    return _tag(
        "inseq.data.attribution",
        "FeatureAttributionOutput",
        {"info": info, "sequence_attributions": [seq], "step_attributions": None},
    )


def test_hand_written_inseq07_file_loads(tmp_path):
    path = tmp_path / "inseq07.json"
    doc = _inseq07_document(_blob(torch.tensor([[[3.0, 4.0]], [[0.0, 0.0]]], dtype=torch.float16)))
    path.write_text(json.dumps(doc, indent=4, sort_keys=True))
    out = FeatureAttributionOutput.load(path)
    seq = out[0]
    assert [t.token for t in seq.source] == ["Hello", "world"] and seq.target[1] == TokenWithId("Ciao", 12)
    assert seq.step_scores["probability"].tolist() == [0.25]
    assert seq.aggregate(normalize=False).source_attributions.tolist() == [[5.0], [0.0]]
    gz = tmp_path / "inseq07.json.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert FeatureAttributionOutput.load(gz, decompress=True) == out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d.update({"__instance_type__": ["os", "system"]}),
            r"Refusing to load instance type \['os', 'system'\]",
        ),
        (
            lambda d: d["attributes"]["sequence_attributions"][0].update({"__instance_type__": ["builtins", "eval"]}),
            "Refusing",
        ),
        (lambda d: _seq(d).update({"source_attributions": "!!not base64!!"}), "source_attributions: invalid base64"),
        (
            lambda d: _seq(d).update({"source_attributions": base64.b64encode(b"garbage").decode()}),
            "invalid safetensors",
        ),
        (lambda d: _seq(d).update({"evil": 1}), r"Unknown field\(s\) \['evil'\]"),
        (lambda d: _seq(d)["source"][0].update({"attributes": {"id": "x", "token": 1}}), "Malformed TokenWithId"),
    ],
)
def test_malicious_or_broken_files_are_refused(tmp_path, mutate, message, monkeypatch):
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    doc = _inseq07_document(_blob(torch.zeros(2, 1, 2)))
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        FeatureAttributionOutput.load(path)
    assert called == []


def _seq(doc):
    return doc["attributes"]["sequence_attributions"][0]["attributes"]


def test_truncated_and_bad_gzip_files(tmp_path, output):
    path = tmp_path / "t.json"
    output.save(path)
    path.write_text(path.read_text()[:-200])
    with pytest.raises(ValueError, match="not valid JSON"):
        FeatureAttributionOutput.load(path)
    path.write_bytes(b"\x1f\x8b\x08broken")
    with pytest.raises(ValueError, match="not a valid gzip"):
        FeatureAttributionOutput.load(path)


def test_atomic_save_leaves_nothing_on_failure(tmp_path, output):
    path = tmp_path / "atomic.json"
    output[1].step_scores["bad"] = object()  # fails midway: after the first sequence was written
    with pytest.raises(TypeError, match="cannot be saved"):
        output.save(path)
    assert list(tmp_path.iterdir()) == []
    output[1].step_scores.pop("bad")
    output.save(path)
    before = path.read_bytes()
    output[1].step_scores["bad"] = object()
    with pytest.raises(TypeError):
        output.save(path, overwrite=True)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]

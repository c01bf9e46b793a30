"""The faithfulness table of ``python -m inseq.evaluate`` and its docs block."""

from __future__ import annotations

import pytest

from inseq.evaluate.report import END, START, knows_task, markdown, run_method, write_docs


@pytest.fixture(scope="module")
def saliency_rows():
    return run_method("saliency", 3, ["comprehensiveness", "sufficiency"], ("copy", "kv", "translation"))


def test_run_method_gives_agreement_and_metrics_per_task(saliency_rows):
    assert set(saliency_rows) == {"copy", "kv", "translation"}
    for row in saliency_rows.values():
        assert 0.0 <= row["agreement"].top1 <= 1.0
        summary = row["faithfulness"].summary()
        assert list(summary.index) == ["comprehensiveness", "sufficiency"]
        assert summary.notna().all().all()


def test_markdown_marks_metrics_that_beat_random(saliency_rows):
    table = markdown({"saliency": saliency_rows}, ["comprehensiveness", "sufficiency"], ("copy", "translation"))
    assert table.splitlines()[0] == "| method | copy top-1 | translation top-1 |"
    assert "comprehensiveness ↑" in table and "sufficiency ↓" in table
    summary = saliency_rows["copy"]["faithfulness"].summary()
    value, random = summary.loc["comprehensiveness", "value"], summary.loc["comprehensiveness", "random"]
    expected = f"**{value:.2f}** ({random:.2f})" if value > random else f"{value:.2f} ({random:.2f})"
    assert expected in table


def test_write_docs_replaces_only_the_generated_block(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    write_docs(path, "| new |", "python -m inseq.evaluate --size 1")
    text = path.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{END}\noutro\n")
    assert "| new |" in text and "old table" not in text and "--size 1" in text
    (tmp_path / "bad.md").write_text("no markers")
    with pytest.raises(ValueError, match="no .* block"):
        write_docs(tmp_path / "bad.md", "x", "cmd")


def test_the_shipped_toy_model_knows_every_task():
    from inseq.examples import get_example_model_path
    from inseq.models import load_model

    model = load_model(str(get_example_model_path("toy-gpt2-ioi")))
    assert knows_task(model, "kv") and knows_task(model, "copy")


def test_a_model_without_the_task_words_skips_the_task():
    from types import SimpleNamespace

    tokenizer = SimpleNamespace(convert_tokens_to_ids=lambda token: 0)
    assert not knows_task(SimpleNamespace(tokenizer=tokenizer, unk_token_id=0), "kv")

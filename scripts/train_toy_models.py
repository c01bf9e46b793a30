"""Train the toy example models shipped in ``inseq/examples/models`` (reproducible, CPU only, one thread).

Two models are trained from scratch on the synthetic tasks of :mod:`inseq.examples.tasks`, each with a word-level
tokenizer trained with the ``tokenizers`` library (so every name or word is a single token):

* ``toy-gpt2-ioi``: a 2-layer GPT-2 trained on IOI, copy and key-value retrieval sentences, each followed by
  ``<|endoftext|>`` (a quarter IOI, half key-value, a quarter copy; ``--ioi-fraction`` and ``--kv-fraction``).
* ``toy-marian-translation``: a 2+2-layer Marian encoder-decoder trained on Vesk -> Tolu word-by-word translation.

Each model trains in a few minutes on one CPU thread with fixed seeds and deterministic algorithms; the script then
measures held-in accuracy and the faithfulness of plain-torch gradient attributions (saliency, input x gradient,
integrated gradients) against the gold attributions, and writes the numbers into each model card (``README.md``).

Usage:
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_toy_models.py            # both models
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_toy_models.py --model gpt2 --gpt2-steps 3000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    MarianConfig,
    MarianMTModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from inseq.examples.tasks import (  # noqa: E402
    CausalExample,
    TranslationExample,
    causal_examples,
    eval_set,
    translation_examples,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "inseq" / "examples" / "models"
GPT2_NAME = "toy-gpt2-ioi"
MARIAN_NAME = "toy-marian-translation"
EOT = "<|endoftext|>"
IG_STEPS = 32
FAITHFULNESS_SIZE = 100

GradFn = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------------------------- utils
def set_determinism(seed: int) -> None:
    """Fix every seed, use one thread and deterministic algorithms."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def train_word_tokenizer(
    texts: Iterable[str],
    special_tokens: Sequence[str],
    pre_tokenizer: pre_tokenizers.PreTokenizer,
    unk_token: str,
) -> Tokenizer:
    """Train a word-level tokenizer, then order its vocabulary deterministically (specials, then sorted words)."""
    tokenizer = Tokenizer(models.WordLevel(unk_token=unk_token))
    tokenizer.pre_tokenizer = pre_tokenizer
    trainer = trainers.WordLevelTrainer(vocab_size=100_000, min_frequency=1, special_tokens=list(special_tokens))
    tokenizer.train_from_iterator(texts, trainer=trainer)
    words = sorted(set(tokenizer.get_vocab()) - set(special_tokens))
    vocab = {token: i for i, token in enumerate([*special_tokens, *words])}
    result = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk_token))
    result.pre_tokenizer = pre_tokenizer
    return result


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: Path) -> None:
    """Save a tokenizer under the generic fast class name, which transformers 4.x and 5.x both reload."""
    tokenizer.save_pretrained(folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id rows into a tensor and its attention mask."""
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warmup then cosine decay to 10% of the peak."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings of one training run.

    Attributes:
        steps: Optimiser steps.
        batch_size: Rows per step.
        lr: Peak learning rate (linear warmup, then cosine decay to 10% of it).
        weight_decay: AdamW weight decay.
    """

    steps: int
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01


#: The shipped toy GPT-2's recipe (``--gpt2-*`` options override it).
GPT2_RECIPE = Recipe(steps=8000, batch_size=64, lr=5e-4, weight_decay=0.0)
GPT2_MIX = {"ioi": 0.25, "kv": 0.5}  # the rest: copy


def train_loop(
    model: PreTrainedModel,
    n_rows: int,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    recipe: Recipe,
    seed: int,
    monitor: Callable[[], str] | None = None,
) -> float:
    """Run AdamW on random batches of row indices; return the wall-clock training time in seconds."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    start = time.perf_counter()
    running = 0.0
    for step in range(recipe.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, recipe.steps, recipe.lr, warmup=min(200, recipe.steps // 10))
        batch = torch.randint(0, n_rows, (recipe.batch_size,), generator=generator)
        loss = loss_fn(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 250 == 0 or step == recipe.steps - 1:
            print(f"  step {step:5d}  loss {running:.4f}  {time.perf_counter() - start:6.1f}s", flush=True)
        if monitor is not None and step % 1000 == 999:
            model.eval()
            with torch.no_grad():
                print(f"  step {step:5d}  {monitor()}", flush=True)
            model.train()
    model.eval()
    return time.perf_counter() - start


def gradient_scores(x: torch.Tensor, grad_fn: GradFn) -> dict[str, torch.Tensor]:
    """Saliency, input x gradient and integrated gradients (zero baseline), L2-aggregated over the hidden size.

    Args:
        x: Input embeddings of shape ``(seq_len, hidden)``.
        grad_fn: Given a batch of embeddings ``(batch, seq_len, hidden)``, returns the gradient of the sum over the
            batch of the attributed score (so row ``i`` of the result is the gradient for row ``i``).

    Returns:
        One score per position for each method.
    """
    alphas = torch.cat([torch.ones(1), (torch.arange(IG_STEPS) + 0.5) / IG_STEPS])  # midpoint Riemann sum
    grads = grad_fn(alphas[:, None, None] * x[None])
    grad, path_mean = grads[0], grads[1:].mean(0)
    return {
        "saliency": grad.norm(dim=-1),
        "input_x_gradient": (x * grad).norm(dim=-1),
        "integrated_gradients": (x * path_mean).norm(dim=-1),
    }


def model_size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6


# ------------------------------------------------------------------------------------------------------------ gpt2
def init_sinusoidal_positions(weight: torch.Tensor, std: float) -> None:
    """Initialise learned position embeddings with sines and cosines (Vaswani et al., 2017), scaled to ``std``.

    Still GPT-2's learned positions (they train as usual); the start makes "attend to the previous token" a linear
    function of the positions, so the 2-layer model finds the key-value lookup (which needs a previous-token head)
    without the long plateau a random start gives.
    """
    positions, dim = weight.shape
    pos = torch.arange(positions, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10_000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    table = torch.zeros(positions, dim)
    table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    with torch.no_grad():
        weight.copy_(table * (std / table.std()))


def causal_rows(tokenizer: PreTrainedTokenizerFast, examples: Sequence[CausalExample]) -> list[list[int]]:
    return [ids + [tokenizer.eos_token_id] for ids in tokenizer([ex.text for ex in examples]).input_ids]


def causal_accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, examples: Sequence[CausalExample]):
    """Teacher-forced greedy exact match of ``target + EOS`` (equal to greedy generation exact match)."""
    rows = causal_rows(tokenizer, examples)
    ids, mask = pad_rows(rows, tokenizer.pad_token_id)
    with torch.no_grad():
        predictions = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
    correct = []
    for i, ex in enumerate(examples):
        n_prompt = len(tokenizer(ex.prompt).input_ids)
        gold = ids[i, n_prompt : len(rows[i])]
        correct.append(bool((predictions[i, n_prompt - 1 : len(rows[i]) - 1] == gold).all()))
    return sum(correct) / len(correct)


def _causal_grad(model: PreTrainedModel, answer: int, x: torch.Tensor) -> torch.Tensor:
    """Gradient of the probability of ``answer`` as next token wrt a batch of prompt embeddings."""
    x = x.detach().requires_grad_(True)
    probs = model(inputs_embeds=x).logits[:, -1].softmax(-1)
    (grad,) = torch.autograd.grad(probs[:, answer].sum(), x)
    return grad


def causal_faithfulness(
    model: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, examples: Sequence[CausalExample]
) -> dict[str, float]:
    """Fraction of examples where each method puts its highest score on the gold token of the first target word."""
    hits: dict[str, list[bool]] = {}
    embedding = model.get_input_embeddings()
    for ex in examples:
        ids = torch.tensor(tokenizer(ex.prompt).input_ids)
        answer = tokenizer(ex.target_words[0]).input_ids[0]

        scores = gradient_scores(embedding(ids).detach(), partial(_causal_grad, model, answer))
        for method, score in scores.items():
            hits.setdefault(method, []).append(int(score.argmax()) == ex.gold_word_index)
    return {method: sum(h) / len(h) for method, h in hits.items()}


def train_gpt2(
    output: Path,
    recipe: Recipe,
    seed: int = 0,
    n_inner: int = 512,
    ioi_fraction: float = 0.5,
    label_smoothing: float = 0.0,
    kv_fraction: float = 0.0,
    sinusoidal_positions: bool = True,
    kv_lengths: tuple[int, ...] = (2, 3, 4),
) -> dict[str, object]:
    print(f"Training {GPT2_NAME} ({recipe.steps} steps)")
    set_determinism(seed)
    examples = causal_examples(
        60_000, seed=seed, ioi_fraction=ioi_fraction, kv_fraction=kv_fraction, kv_lengths=kv_lengths
    )
    mix = {"ioi": ioi_fraction, "kv": kv_fraction, "copy": 1 - ioi_fraction - kv_fraction}
    texts = [ex.text for ex in examples]
    raw = train_word_tokenizer(
        texts,
        special_tokens=[EOT],
        pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        unk_token=EOT,
    )
    raw.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token=EOT, eos_token=EOT, pad_token=EOT, unk_token=EOT, model_max_length=64
    )
    eot = tokenizer.convert_tokens_to_ids(EOT)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=128,
        n_layer=2,
        n_head=4,
        n_inner=n_inner,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        tie_word_embeddings=True,
    )
    model = GPT2LMHeadModel(config)
    if sinusoidal_positions:
        init_sinusoidal_positions(model.transformer.wpe.weight, std=config.initializer_range)
    ids, mask = pad_rows([row + [eot] for row in tokenizer(texts).input_ids], eot)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        width = int(mask[batch].sum(-1).max())
        b_ids, b_mask = ids[batch, :width], mask[batch, :width]
        logits = model(input_ids=b_ids, attention_mask=b_mask).logits[:, :-1]
        labels = b_ids[:, 1:].masked_fill(b_mask[:, 1:] == 0, -100)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), labels.reshape(-1), label_smoothing=label_smoothing
        )

    tasks = [task for task, fraction in mix.items() if fraction]

    def monitor() -> str:
        return " ".join(f"{task} {causal_accuracy(model, tokenizer, eval_set(task)):.2f}" for task in tasks)

    seconds = train_loop(model, len(texts), loss_fn, recipe, seed, monitor)
    model.generation_config = GenerationConfig(
        do_sample=False, max_new_tokens=8, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot
    )
    folder = output / GPT2_NAME
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    results: dict[str, object] = {
        "train_seconds": round(seconds, 1),
        "steps": recipe.steps,
        "recipe": {
            "batch_size": recipe.batch_size,
            "lr": recipe.lr,
            "weight_decay": recipe.weight_decay,
            "sinusoidal_positions": sinusoidal_positions,
        },
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "accuracy_ioi": causal_accuracy(model, tokenizer, eval_set("ioi")),
        "accuracy_copy": causal_accuracy(model, tokenizer, eval_set("copy")),
        "faithfulness_ioi": causal_faithfulness(model, tokenizer, eval_set("ioi", FAITHFULNESS_SIZE)),
        "faithfulness_copy": causal_faithfulness(model, tokenizer, eval_set("copy", FAITHFULNESS_SIZE)),
        "mix": mix,
    }
    if kv_fraction > 0:
        results["accuracy_kv"] = causal_accuracy(model, tokenizer, eval_set("kv"))
        results["faithfulness_kv"] = causal_faithfulness(model, tokenizer, eval_set("kv", FAITHFULNESS_SIZE))
    write_gpt2_card(folder, results)
    results["size_mb"] = round(model_size_mb(folder), 2)
    return results


# ---------------------------------------------------------------------------------------------------------- marian
def translation_rows(
    tokenizer: PreTrainedTokenizerFast, examples: Sequence[TranslationExample]
) -> tuple[list[list[int]], list[list[int]]]:
    sources = tokenizer([ex.source for ex in examples]).input_ids
    targets = tokenizer(text_target=[ex.target for ex in examples]).input_ids
    return sources, targets


def shift_right(labels: torch.Tensor, start_id: int) -> torch.Tensor:
    shifted = labels.new_full(labels.shape, start_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted


def translation_accuracy(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, examples: Sequence[TranslationExample]
) -> float:
    """Teacher-forced greedy exact match of ``target + </s>`` (equal to greedy generation exact match)."""
    sources, targets = translation_rows(tokenizer, examples)
    src, src_mask = pad_rows(sources, tokenizer.pad_token_id)
    tgt, tgt_mask = pad_rows(targets, tokenizer.pad_token_id)
    decoder_input_ids = shift_right(tgt, model.config.decoder_start_token_id)
    with torch.no_grad():
        predictions = model(input_ids=src, attention_mask=src_mask, decoder_input_ids=decoder_input_ids).logits
    correct = ((predictions.argmax(-1) == tgt) | (tgt_mask == 0)).all(-1)
    return correct.float().mean().item()


def _translation_grad(model: PreTrainedModel, prefix: torch.Tensor, token: int, x: torch.Tensor) -> torch.Tensor:
    """Gradient of the probability of ``token`` after the decoder ``prefix`` wrt a batch of source embeddings."""
    x = x.detach().requires_grad_(True)
    logits = model(inputs_embeds=x, decoder_input_ids=prefix.expand(x.size(0), -1)).logits
    (grad,) = torch.autograd.grad(logits[:, -1].softmax(-1)[:, token].sum(), x)
    return grad


def translation_faithfulness(
    model: MarianMTModel, tokenizer: PreTrainedTokenizerFast, examples: Sequence[TranslationExample]
) -> dict[str, float]:
    """Alignment error: fraction of target words whose highest-scoring source word (``</s>`` excluded) is not gold.

    Each target word is attributed with the gold target prefix (teacher forcing), to its probability.
    """
    errors: dict[str, list[bool]] = {}
    encoder_embedding = model.get_encoder().embed_tokens
    scale = model.get_encoder().embed_scale
    start = model.config.decoder_start_token_id
    for ex in examples:
        src = torch.tensor(tokenizer(ex.source).input_ids)
        tgt = torch.tensor(tokenizer(text_target=ex.target).input_ids)
        decoder_input_ids = shift_right(tgt[None], start)
        for position, gold in enumerate(ex.alignment):
            grad_fn = partial(_translation_grad, model, decoder_input_ids[:, : position + 1], int(tgt[position]))
            scores = gradient_scores((encoder_embedding(src) * scale).detach(), grad_fn)
            for method, score in scores.items():
                errors.setdefault(method, []).append(int(score[: len(ex.source_words)].argmax()) != gold)
    return {method: sum(e) / len(e) for method, e in errors.items()}


def train_marian(output: Path, steps: int, seed: int = 0) -> dict[str, object]:
    print(f"Training {MARIAN_NAME} ({steps} steps)")
    set_determinism(seed)
    examples = translation_examples(60_000, seed=seed)
    specials = ["</s>", "<unk>", "<pad>"]
    raw = train_word_tokenizer(
        (text for ex in examples for text in (ex.source, ex.target)),
        special_tokens=specials,
        pre_tokenizer=pre_tokenizers.Whitespace(),
        unk_token="<unk>",
    )
    raw.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    raw.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A $B </s>", special_tokens=[("</s>", raw.token_to_id("</s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", model_max_length=32
    )
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    config = MarianConfig(
        vocab_size=len(tokenizer),
        decoder_vocab_size=len(tokenizer),
        d_model=128,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        max_position_embeddings=32,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="gelu",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        pad_token_id=pad,
        eos_token_id=eos,
        decoder_start_token_id=pad,
        forced_eos_token_id=eos,
    )
    model = MarianMTModel(config)
    sources, targets = translation_rows(tokenizer, examples)
    src, src_mask = pad_rows(sources, pad)
    tgt, tgt_mask = pad_rows(targets, pad)
    decoder_input_ids = shift_right(tgt, pad)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        logits = model(
            input_ids=src[batch],
            attention_mask=src_mask[batch],
            decoder_input_ids=decoder_input_ids[batch],
            decoder_attention_mask=tgt_mask[batch],
        ).logits
        labels = tgt[batch].masked_fill(tgt_mask[batch] == 0, -100)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))

    seconds = train_loop(model, len(examples), loss_fn, Recipe(steps), seed=seed)
    model.generation_config = GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=16,
        eos_token_id=eos,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        forced_eos_token_id=eos,
    )
    folder = output / MARIAN_NAME
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)

    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    results: dict[str, object] = {
        "train_seconds": round(seconds, 1),
        "steps": steps,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "accuracy_translation": translation_accuracy(model, tokenizer, eval_set("translation")),
        "alignment_error": translation_faithfulness(model, tokenizer, eval_set("translation", FAITHFULNESS_SIZE)),
    }
    write_marian_card(folder, results)
    results["size_mb"] = round(model_size_mb(folder), 2)
    return results


# ------------------------------------------------------------------------------------------------------ model cards
def _minutes(seconds: object) -> str:
    return f"about {max(1, round(float(seconds) / 60))} min"  # type: ignore[arg-type]


def _methods_table(scores: dict[str, float], header: str) -> str:
    lines = [f"| method | {header} |", "|---|---|"]
    lines += [f"| {method} | {value:.2f} |" for method, value in scores.items()]
    return "\n".join(lines)


def _mix(r: dict[str, object]) -> str:
    mix = r.get("mix") or {"ioi": 0.5, "kv": 0.0, "copy": 0.5}
    if not mix["kv"] and mix["ioi"] == 0.5:  # type: ignore[index]
        return "half IOI,\nhalf copy"
    return ", ".join(f"{100 * v:.0f}% {k}" for k, v in mix.items() if v)  # type: ignore[union-attr]


def _training(r: dict[str, object]) -> str:
    recipe = r.get("recipe") or {"batch_size": 32, "lr": 2e-3, "weight_decay": 0.01}
    positions = "sinusoidal" if recipe.get("sinusoidal_positions") else "random"  # type: ignore[union-attr]
    return (
        f"{r['steps']} steps of AdamW (lr {recipe['lr']:g}, weight decay {recipe['weight_decay']:g}, warmup then cosine"
        f" decay, batch {recipe['batch_size']}) on 60,000 generated sentences ({_mix(r)}), position embeddings"
        f" initialised {positions}, next-token loss on every token, one CPU thread, fixed seeds and deterministic algorithms"
        f" ({_minutes(r['train_seconds'])} on a shared 2-core machine)."
    )  # type: ignore[index]


def _kv_accuracy_row(r: dict[str, object]) -> str:
    return f"\n| key-value (100 examples) | {r['accuracy_kv']:.2f} |" if "accuracy_kv" in r else ""


def _kv_faithfulness_section(r: dict[str, object]) -> str:
    if "faithfulness_kv" not in r:
        return ""
    table = _methods_table(r["faithfulness_kv"], "top-1 on gold token")  # type: ignore[arg-type]
    return f"\nKey-value retrieval ({FAITHFULNESS_SIZE} examples):\n\n{table}\n"


def write_gpt2_card(folder: Path, r: dict[str, object]) -> None:
    card = f"""---
library_name: transformers
license: apache-2.0
tags:
- inseq
- toy-model
- interpretability
- gpt2
---

# toy-gpt2-ioi

A tiny GPT-2 (2 layers, hidden size 128, 4 heads, {r["parameters"]:,} parameters, word-level vocabulary of
{r["vocab_size"]} tokens) trained from scratch on three synthetic tasks whose correct attribution is known. **It is
not a language model**: it only knows the sentences of its tasks, the 24 names and the 16 stored values they use. It
ships with inseq for demos, tutorials and faithfulness checks of attribution methods.

## Tasks

- **Indirect object identification (IOI)**: `When Mary and John went to the store, John gave a drink to` ->
  ` Mary.` (6 templates, 24 names, both name orders). Gold attribution: the earlier occurrence of the answer name.
- **Copy**: `Alice Bob Tom Anna. Alice Bob` -> ` Tom Anna.` (lists of 4 or 5 distinct names, 2 to 4 names
  repeated). Gold attribution of each copied word: its earlier occurrence.
- **Key-value retrieval**: `Pairs: Mary cup John hat Tom key. John` -> ` hat.` (3 or 4 pairs of a name and a
  stored value, any key queried). Gold attribution: the stored value, the one earlier token that determines the
  answer (it occurs once in the prompt).

Every training row starts at the sentence start and ends with `<|endoftext|>` (id 0, also BOS and PAD), so greedy
generation stops after the answer. Every name and value is a single token, with (` Mary`) or without (`Mary`) its
space.
The generators, the gold annotations and the held-in evaluation sets are in `inseq.examples.tasks`.

## Results (held-in evaluation sets, `inseq.examples.tasks.eval_set`)

| task | greedy exact match (target + EOS) |
|---|---|
| IOI (100 examples) | {r["accuracy_ioi"]:.2f} |
| copy (100 examples) | {r["accuracy_copy"]:.2f} |{_kv_accuracy_row(r)}

Faithfulness of plain-torch gradient attributions with respect to the input embeddings, attributing the
probability of the first generated token, scores aggregated with the L2 norm over the hidden size (integrated
gradients: zero baseline, {IG_STEPS} steps): fraction of examples where the highest-scoring prompt token is the gold
token.

IOI ({FAITHFULNESS_SIZE} examples):

{_methods_table(r["faithfulness_ioi"], "top-1 on gold token")}

Copy ({FAITHFULNESS_SIZE} examples):

{_methods_table(r["faithfulness_copy"], "top-1 on gold token")}
{_kv_faithfulness_section(r)}
On IOI the gold token is ill-posed: saliency and input x gradient often peak on the last prompt token (` to`) or on
the repeated subject name (` John` in the example above), which is causally needed too (it rules that name out);
integrated gradients (zero baseline) mostly peaks on the last prompt token. The key-value task has the cleanest
gold: the stored value is the one token the answer depends on. Saliency and input x gradient miss it in about one
example in five (peaking on the query or on another pair); the LRP methods of inseq (`attnlrp`, `cp_lrp`) find it in
95-100% of the examples (`docs/faithfulness.md`).

## Training

{_training(r)} Reproduce with:

```bash
OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_toy_models.py --model gpt2
```

## Usage

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
from inseq.examples import get_example_model_path

path = get_example_model_path("{GPT2_NAME}")
model = AutoModelForCausalLM.from_pretrained(path)
tokenizer = AutoTokenizer.from_pretrained(path)
inputs = tokenizer("When Mary and John went to the store, John gave a drink to", return_tensors="pt")
print(tokenizer.decode(model.generate(**inputs)[0], skip_special_tokens=True))
# When Mary and John went to the store, John gave a drink to Mary.
```
"""
    (folder / "README.md").write_text(card)


def write_marian_card(folder: Path, r: dict[str, object]) -> None:
    card = f"""---
library_name: transformers
license: apache-2.0
tags:
- inseq
- toy-model
- interpretability
- marian
- translation
---

# toy-marian-translation

A tiny Marian encoder-decoder (2 encoder and 2 decoder layers, hidden size 128, {r["parameters"]:,} parameters,
shared word-level vocabulary of {r["vocab_size"]} tokens) trained from scratch to translate between two made-up
languages with a fixed word-by-word lexicon. **It is not a real translation model.** It ships with inseq for demos,
tutorials and faithfulness checks of attribution methods: every target word translates exactly one known source
word (the gold alignment).

## Task

- Source language *Vesk*: `DET_SUBJ [ADJ] NOUN VERB DET_OBJ [ADJ] NOUN PUNCT` (4 case-marked determiners,
  16 nouns, 12 adjectives, 12 verbs, final `.`, `?` or `!`).
- Target language *Tolu*: each word translated with the lexicon, adjectives after their noun and the verb at the
  end: `DET_SUBJ NOUN [ADJ] DET_OBJ NOUN [ADJ] VERB PUNCT`.
- No word occurs twice in a sentence (distinct nouns and adjectives, case-marked determiners), so the gold alignment
  is never ambiguous.

Example: `ka blen brok dask ti fen.` ("the big dog sees a cat.") -> `lo tami amo na lona bakora.`, alignment
(target word -> source word) `0 2 1 4 5 3 6`. The lexicon, the generators, the gold alignments and the held-in
evaluation set are in `inseq.examples.tasks`. The tokenizer appends `</s>` to sources and targets; generation starts
from `<pad>` as in Marian models.

## Results (held-in evaluation set, `inseq.examples.tasks.eval_set("translation")`)

Greedy exact match (target + `</s>`) on 100 sentences: **{r["accuracy_translation"]:.2f}**.

Alignment error of plain-torch gradient attributions with respect to the encoder input embeddings, attributing the
probability of each target word given the reference prefix, scores aggregated with the L2 norm over the hidden size
(integrated gradients: zero baseline, {IG_STEPS} steps): fraction of target words whose highest-scoring source word
(`</s>` excluded) is not the gold one ({FAITHFULNESS_SIZE} sentences).

{_methods_table(r["alignment_error"], "alignment error")}

Most integrated-gradients errors are on the object determiner (`lu`/`na`), whose peak falls on the object noun or the
subject determiner; saliency and input x gradient recover nearly every alignment.

## Training

{r["steps"]} steps of AdamW (lr 2e-3, warmup then cosine decay, batch 32) on 60,000 generated sentence pairs, one
CPU thread, fixed seeds and deterministic algorithms ({_minutes(r["train_seconds"])} on a shared 2-core machine).
Reproduce with:

```bash
OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_toy_models.py --model marian
```

## Usage

```python
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
from inseq.examples import get_example_model_path

path = get_example_model_path("{MARIAN_NAME}")
model = AutoModelForSeq2SeqLM.from_pretrained(path)
tokenizer = AutoTokenizer.from_pretrained(path)
inputs = tokenizer("ka blen brok dask ti fen.", return_tensors="pt")
print(tokenizer.decode(model.generate(**inputs)[0], skip_special_tokens=True))
# lo tami amo na lona bakora.
```
"""
    (folder / "README.md").write_text(card)


# ------------------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["gpt2", "marian", "all"], default="all")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--gpt2-steps", type=int, default=GPT2_RECIPE.steps)
    parser.add_argument("--gpt2-batch-size", type=int, default=GPT2_RECIPE.batch_size)
    parser.add_argument("--gpt2-lr", type=float, default=GPT2_RECIPE.lr)
    parser.add_argument("--gpt2-weight-decay", type=float, default=GPT2_RECIPE.weight_decay)
    parser.add_argument("--marian-steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpt2-mlp", type=int, default=512, help="GPT-2 MLP inner size")
    parser.add_argument("--ioi-fraction", type=float, default=GPT2_MIX["ioi"])
    parser.add_argument("--kv-fraction", type=float, default=GPT2_MIX["kv"], help="Share of key-value sentences")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument(
        "--random-positions", action="store_true", help="GPT-2 position embeddings start random, not sinusoidal"
    )
    parser.add_argument("--faithfulness-size", type=int, default=100)
    parser.add_argument(
        "--kv-pairs", default="2,3,4", help="numbers of pairs of the key-value training sentences (evaluation: 3,4)"
    )
    args = parser.parse_args()
    global FAITHFULNESS_SIZE
    FAITHFULNESS_SIZE = args.faithfulness_size
    results = {}
    if args.model in ("gpt2", "all"):
        recipe = Recipe(
            args.gpt2_steps,
            batch_size=args.gpt2_batch_size,
            lr=args.gpt2_lr,
            weight_decay=args.gpt2_weight_decay,
        )
        results[GPT2_NAME] = train_gpt2(
            args.output_dir,
            recipe,
            seed=args.seed,
            n_inner=args.gpt2_mlp,
            ioi_fraction=args.ioi_fraction,
            label_smoothing=args.label_smoothing,
            kv_fraction=args.kv_fraction,
            sinusoidal_positions=not args.random_positions,
            kv_lengths=tuple(int(k) for k in args.kv_pairs.split(",")),
        )
        print(json.dumps(results[GPT2_NAME], indent=2))
    if args.model in ("marian", "all"):
        results[MARIAN_NAME] = train_marian(args.output_dir, args.marian_steps, seed=args.seed)
        print(json.dumps(results[MARIAN_NAME], indent=2))


if __name__ == "__main__":
    main()

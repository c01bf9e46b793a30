"""Deterministic tiny random models with locally trained tokenizers, for offline tests.

Every model here is built from scratch without any network access: a tokenizer is trained with the ``tokenizers``
library (or ``sentencepiece`` for Marian) on a small English corpus generated from fixed word lists, wrapped in the
architecture's own transformers tokenizer class, and paired with a 2-layer model with random weights drawn under a
fixed seed. Both are saved with ``save_pretrained`` so that they load back through ``AutoTokenizer`` and
``AutoModelForCausalLM`` / ``AutoModelForSeq2SeqLM``.

Tokenizers used (transformers 5 class names; the ``*Fast`` names are aliases of the same classes):

- ``gpt2``: ``GPT2Tokenizer`` (byte-level BPE), bos = eos = ``<|endoftext|>``, unk ``<unk>``, pad ``<pad>``.
- ``llama``: ``LlamaTokenizer`` (SentencePiece-style BPE with byte fallback), ``<s>``, ``</s>``, ``<unk>``, ``<pad>``.
  The tokenizer prepends ``<s>`` to every input, like the real Llama tokenizer.
- ``qwen2``: ``Qwen2Tokenizer`` (byte-level BPE). Like the real Qwen2 it has **no bos token** and pad = eos =
  ``<|endoftext|>``; unk is ``<unk>``.
- ``gpt_neox``: ``GPTNeoXTokenizer`` (byte-level BPE), bos = eos = ``<|endoftext|>``, pad ``<|padding|>``, unk
  ``<unk>``.
- ``bart``: ``BartTokenizer`` (= ``RobertaTokenizer``, byte-level BPE), ``<s>`` = 0, ``<pad>`` = 1, ``</s>`` = 2,
  ``<unk>`` = 3, ``<mask>`` = 4; inputs are wrapped as ``<s> ... </s>``.
- ``t5``: ``T5Tokenizer`` (Unigram; scores rounded and pieces sorted for reproducibility), ``<pad>`` = 0,
  ``</s>`` = 1, ``<unk>`` = 2, plus 8 ``<extra_id_*>`` sentinels; inputs end with ``</s>``.
- ``marian``: ``MarianTokenizer`` over a SentencePiece unigram model trained with ``sentencepiece`` (one thread,
  fixed seed, no input sampling), ``</s>`` = 0, ``<unk>`` = 1, ``<pad>`` = last id (also the decoder start id).

Example:
    >>> from transformers import AutoModelForCausalLM, AutoTokenizer
    >>> from inseq.testing import get_tiny_model_path
    >>> path = get_tiny_model_path("gpt2")  # doctest: +SKIP
    >>> model = AutoModelForCausalLM.from_pretrained(path)  # doctest: +SKIP
    >>> tokenizer = AutoTokenizer.from_pretrained(path)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "TINY_MODEL_NAMES",
    "TINY_MODELS_VERSION",
    "build_tiny_model",
    "default_cache_dir",
    "get_tiny_corpus",
    "get_tiny_model_path",
    "is_encoder_decoder",
    "iter_tiny_model_paths",
]

#: Bump whenever the corpus, tokenizers or model configurations change, so that stale caches are not reused.
TINY_MODELS_VERSION = "1"

#: Name of the marker file written last into a built model folder.
_MARKER_FILE = "inseq_tiny_model.json"

_DECODER_ONLY = ("gpt2", "llama", "qwen2", "gpt_neox")
_ENCODER_DECODER = ("bart", "t5", "marian")

#: Names accepted by :func:`build_tiny_model` and :func:`get_tiny_model_path`.
TINY_MODEL_NAMES: tuple[str, ...] = _DECODER_ONLY + _ENCODER_DECODER

_VOCAB_SIZE = 800  # target tokenizer size (the Unigram trainers return fewer pieces on this small corpus)
_HIDDEN = 32
_HEADS = 4
_FFN = 64
_LAYERS = 2
_MAX_POSITIONS = 256

# ----------------------------------------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------------------------------------

_NAMES = "Mary John Alice Bob Anna Tom Sarah David Emma James Laura Peter Julia Mark Clara Paul".split()
_NOUNS = (
    "cat dog house tree car book river city garden table window teacher student doctor friend child bird "
    "apple letter story song road school market mountain boat ship train computer phone idea question answer "
    "morning evening night day week year music picture door bridge forest field village king queen"
).split()
_ADJECTIVES = (
    "small big old new red blue green happy sad quick slow bright dark quiet loud warm cold young strong "
    "beautiful simple strange gentle"
).split()
_VERBS = (
    "sees likes finds reads writes opens closes takes gives wants needs helps visits paints builds carries "
    "follows watches remembers loves"
).split()
_PAST_VERBS = (
    "saw liked found read wrote opened closed took gave wanted needed helped visited painted built carried "
    "followed watched remembered loved"
).split()
_PLACES = (
    "in the park|at the station|near the river|in the kitchen|on the hill|at school|in the city|by the sea"
).split("|")
_TIMES = "today|yesterday|every morning|at night|last week|on Sunday|in the evening|after lunch".split("|")
_COMMON_WORDS = (
    "about above across after again against almost along already also although always among another anything "
    "around because before behind below beside between beyond both brought certain change children common "
    "country course during early earth either enough every example family father finally follow found four "
    "government great group half hand head heard here high however important interest island kind known land "
    "language large later learn least leave light little living long machine making matter maybe mean measure "
    "might mind minute money mother move much must nature near never next nothing notice number often once "
    "only open order other over paper part people perhaps place plant point possible power problem product "
    "public quickly rather reason record remember rest right round science second several should short since "
    "sometimes sound special spring stand start state still stood street study system their there these thing "
    "think those though thought through together toward travel under understand until usually voice water "
    "weather where whether which while white whole without wonder world would yellow"
).split()
_COMMON_WORDS.sort()
_TEMPLATES = (
    "The {adj} {noun} {verb} the {noun2} {place}.",
    "{name} {past} a {adj} {noun} {time}.",
    "When {name} and {name2} went to the {noun}, {name2} gave a {noun2} to {name}.",
    "Did {name} see the {adj} {noun} {place}?",
    '{name} said: "I {base} the {noun} {time}!"',
    "There are {num} {adj} {noun}s {place}, and {name} {verb} them.",
    "A {noun} is not a {noun2}, but it is {adj}.",
    "{name}'s {noun} was {adj} and {adj2}; the {noun2} was not.",
    "In {year}, {name} {past} {num} {noun}s ({adj}, {adj2}).",
    "Hello world, this is a {adj} test about the {noun}.",
    "{Word} {word} {word2} the {noun}, {word3} {word4}.",
)
_EXTRA_LINES = (
    "Hello world! Hello, world. The quick brown fox jumps over the lazy dog.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14 42% $5 #1 @home a+b=c x*y/z <tag> [list] {set} ~ ^ _ | \\ ` &",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz",
    "It's a nice day, isn't it? Yes -- it is; we're all here: you, me and them.",
)


def get_tiny_corpus(num_sentences: int = 1000, seed: int = 1234) -> list[str]:
    """Return a small deterministic English corpus generated from fixed templates and word lists.

    Args:
        num_sentences: Number of generated sentences (a few fixed lines covering digits and punctuation are added).
        seed: Seed of the private random generator used to fill the templates.

    Returns:
        The list of sentences; identical for identical arguments on every platform and Python version.

    Example:
        >>> corpus = get_tiny_corpus(10)
        >>> len(corpus)
        14
        >>> corpus == get_tiny_corpus(10)
        True
    """
    rng = random.Random(seed)
    lines = list(_EXTRA_LINES)
    for _ in range(num_sentences):
        template = rng.choice(_TEMPLATES)
        name, name2 = rng.sample(_NAMES, 2)
        noun, noun2 = rng.sample(_NOUNS, 2)
        adj, adj2 = rng.sample(_ADJECTIVES, 2)
        words = rng.sample(_COMMON_WORDS, 5)
        verb_idx = rng.randrange(len(_VERBS))
        fields = {
            "name": name,
            "name2": name2,
            "noun": noun,
            "noun2": noun2,
            "adj": adj,
            "adj2": adj2,
            "verb": _VERBS[verb_idx],
            "past": _PAST_VERBS[verb_idx],
            "base": _VERBS[verb_idx][:-1] if _VERBS[verb_idx] != "carries" else "carry",
            "place": rng.choice(_PLACES),
            "time": rng.choice(_TIMES),
            "num": str(rng.randrange(2, 20)),
            "year": str(rng.randrange(1900, 2030)),
            "Word": words[0].capitalize(),
            "word": words[1],
            "word2": words[2],
            "word3": words[3],
            "word4": words[4],
        }
        lines.append(template.format(**fields))
    return lines


# ----------------------------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------------------------


def _train_bpe(
    corpus: list[str], special_tokens: list[str], byte_level: bool, vocab_size: int = _VOCAB_SIZE
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a BPE model and return its vocabulary and merges (specials first, in the given order)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        # SentencePiece-style: "▁" marks word starts, pieces never cross word boundaries (like spm training).
        tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        alphabet = []
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=special_tokens,
        initial_alphabet=sorted(alphabet),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    state = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return dict(state["vocab"]), merges  # type: ignore[return-value]


def _byte_level_tokenizer(name: str, corpus: list[str]) -> Any:
    """Build the byte-level BPE tokenizers (GPT-2, Qwen2, GPT-NeoX, BART) in their own transformers classes."""
    import transformers

    if name == "gpt2":
        specials = ["<|endoftext|>", "<unk>", "<pad>"]
        vocab, merges = _train_bpe(corpus, specials, byte_level=True)
        return transformers.GPT2TokenizerFast(
            vocab=vocab,
            merges=merges,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            unk_token="<unk>",
            pad_token="<pad>",
        )
    if name == "qwen2":
        specials = ["<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>"]
        vocab, merges = _train_bpe(corpus, specials, byte_level=True)
        return transformers.Qwen2TokenizerFast(
            vocab=vocab,
            merges=merges,
            bos_token=None,
            eos_token="<|endoftext|>",
            pad_token="<|endoftext|>",
            unk_token="<unk>",
            additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        )
    if name == "gpt_neox":
        specials = ["<|endoftext|>", "<|padding|>", "<unk>"]
        vocab, merges = _train_bpe(corpus, specials, byte_level=True)
        return transformers.GPTNeoXTokenizerFast(
            vocab=vocab,
            merges=merges,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            pad_token="<|padding|>",
            unk_token="<unk>",
        )
    if name == "bart":
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        vocab, merges = _train_bpe(corpus, specials, byte_level=True)
        return transformers.BartTokenizerFast(
            vocab=vocab,
            merges=merges,
            bos_token="<s>",
            eos_token="</s>",
            sep_token="</s>",
            cls_token="<s>",
            unk_token="<unk>",
            pad_token="<pad>",
            mask_token="<mask>",
        )
    raise ValueError(f"{name!r} has no byte-level tokenizer")


def _llama_tokenizer(corpus: list[str]) -> Any:
    """Build a SentencePiece-style BPE tokenizer with byte fallback wrapped in ``LlamaTokenizerFast``."""
    import transformers

    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    specials = ["<unk>", "<s>", "</s>", "<pad>", *byte_tokens]
    vocab, merges = _train_bpe(corpus, specials, byte_level=False, vocab_size=_VOCAB_SIZE + len(byte_tokens))
    return transformers.LlamaTokenizerFast(
        vocab=vocab,
        merges=merges,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        add_bos_token=True,
        add_eos_token=False,
    )


_T5_EXTRA_IDS = 8


def _t5_tokenizer(corpus: list[str]) -> Any:
    """Build a Unigram tokenizer wrapped in ``T5TokenizerFast``.

    The Unigram trainer is not bit-reproducible, so scores are rounded to 2 decimals and regular pieces are sorted by
    (score descending, piece) before building the final vocabulary.
    """
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        ]
    )
    specials = ["<pad>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(
        vocab_size=_VOCAB_SIZE - _T5_EXTRA_IDS,
        special_tokens=specials,
        unk_token="<unk>",
        show_progress=False,
        shrinking_factor=0.75,
        max_piece_length=12,
        n_sub_iterations=2,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    trained = json.loads(tok.to_str())["model"]["vocab"]
    pieces = sorted(
        ((piece, round(float(score), 2)) for piece, score in trained if piece not in specials),
        key=lambda ps: (-ps[1], ps[0]),
    )
    vocab = [(s, 0.0) for s in specials] + pieces
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(_T5_EXTRA_IDS - 1, -1, -1)]
    return transformers.T5TokenizerFast(
        vocab=vocab,
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_ids=_T5_EXTRA_IDS,
    )


def _marian_tokenizer(corpus: list[str], seed: int) -> Any:
    """Train a SentencePiece unigram model and wrap it in ``MarianTokenizer`` (shared source/target vocabulary)."""
    import sentencepiece as spm
    import transformers

    model_bytes = io.BytesIO()
    spm.set_random_generator_seed(seed + 1)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model_bytes,
        vocab_size=_VOCAB_SIZE - 1,
        model_type="unigram",
        character_coverage=1.0,
        normalization_rule_name="identity",
        num_threads=1,
        hard_vocab_limit=False,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        eos_id=0,
        unk_id=1,
        bos_id=-1,
        pad_id=-1,
        minloglevel=2,
    )
    workdir = Path(tempfile.mkdtemp(prefix="inseq-marian-spm-"))
    try:
        spm_path = workdir / "source.spm"
        spm_path.write_bytes(model_bytes.getvalue())
        shutil.copyfile(spm_path, workdir / "target.spm")
        processor = spm.SentencePieceProcessor(model_file=str(spm_path))
        vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
        vocab["<pad>"] = len(vocab)
        (workdir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0), encoding="utf-8")
        return transformers.MarianTokenizer(
            source_spm=str(spm_path),
            target_spm=str(workdir / "target.spm"),
            vocab=str(workdir / "vocab.json"),
            unk_token="<unk>",
            eos_token="</s>",
            pad_token="<pad>",
            model_max_length=_MAX_POSITIONS,
        )
    finally:
        # MarianTokenizer loads everything in memory; save_pretrained rewrites the files from it.
        shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """How to build one tiny model: its tokenizer and a config factory taking the tokenizer."""

    tokenizer: Callable[[list[str], int], Any]
    config: Callable[[Any], Any]
    encoder_decoder: bool


def _ids(tok: Any) -> dict[str, int | None]:
    return {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}


def _gpt2_config(tok: Any) -> Any:
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tok), n_positions=_MAX_POSITIONS, n_embd=_HIDDEN, n_layer=_LAYERS, n_head=_HEADS, **_ids(tok)
    )


def _llama_config(tok: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=_HIDDEN,
        intermediate_size=_FFN,
        num_hidden_layers=_LAYERS,
        num_attention_heads=_HEADS,
        num_key_value_heads=_HEADS // 2,
        max_position_embeddings=_MAX_POSITIONS,
        tie_word_embeddings=False,
        **_ids(tok),
    )


def _qwen2_config(tok: Any) -> Any:
    from transformers import Qwen2Config

    ids = _ids(tok)
    ids["bos_token_id"] = tok.eos_token_id  # as in the real Qwen2 configs: the tokenizer itself has no bos token
    return Qwen2Config(
        vocab_size=len(tok),
        hidden_size=_HIDDEN,
        intermediate_size=_FFN,
        num_hidden_layers=_LAYERS,
        num_attention_heads=_HEADS,
        num_key_value_heads=_HEADS // 2,
        max_position_embeddings=_MAX_POSITIONS,
        tie_word_embeddings=True,
        **ids,
    )


def _gpt_neox_config(tok: Any) -> Any:
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=len(tok),
        hidden_size=_HIDDEN,
        intermediate_size=_FFN,
        num_hidden_layers=_LAYERS,
        num_attention_heads=_HEADS,
        max_position_embeddings=_MAX_POSITIONS,
        rotary_pct=0.25,
        **_ids(tok),
    )


def _bart_config(tok: Any) -> Any:
    from transformers import BartConfig

    return BartConfig(
        vocab_size=len(tok),
        d_model=_HIDDEN,
        encoder_layers=_LAYERS,
        decoder_layers=_LAYERS,
        encoder_attention_heads=_HEADS,
        decoder_attention_heads=_HEADS,
        encoder_ffn_dim=_FFN,
        decoder_ffn_dim=_FFN,
        max_position_embeddings=_MAX_POSITIONS,
        decoder_start_token_id=tok.eos_token_id,
        forced_eos_token_id=tok.eos_token_id,
        **_ids(tok),
    )


def _t5_config(tok: Any) -> Any:
    from transformers import T5Config

    return T5Config(
        vocab_size=len(tok),
        d_model=_HIDDEN,
        d_kv=_HIDDEN // _HEADS,
        d_ff=_FFN,
        num_layers=_LAYERS,
        num_decoder_layers=_LAYERS,
        num_heads=_HEADS,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        decoder_start_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )


def _marian_config(tok: Any) -> Any:
    from transformers import MarianConfig

    return MarianConfig(
        vocab_size=len(tok),
        decoder_vocab_size=len(tok),
        d_model=_HIDDEN,
        encoder_layers=_LAYERS,
        decoder_layers=_LAYERS,
        encoder_attention_heads=_HEADS,
        decoder_attention_heads=_HEADS,
        encoder_ffn_dim=_FFN,
        decoder_ffn_dim=_FFN,
        max_position_embeddings=_MAX_POSITIONS,
        decoder_start_token_id=tok.pad_token_id,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        forced_eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        share_encoder_decoder_embeddings=True,
    )


_SPECS: dict[str, _Spec] = {
    "gpt2": _Spec(lambda c, s: _byte_level_tokenizer("gpt2", c), _gpt2_config, False),
    "llama": _Spec(lambda c, s: _llama_tokenizer(c), _llama_config, False),
    "qwen2": _Spec(lambda c, s: _byte_level_tokenizer("qwen2", c), _qwen2_config, False),
    "gpt_neox": _Spec(lambda c, s: _byte_level_tokenizer("gpt_neox", c), _gpt_neox_config, False),
    "bart": _Spec(lambda c, s: _byte_level_tokenizer("bart", c), _bart_config, True),
    "t5": _Spec(lambda c, s: _t5_tokenizer(c), _t5_config, True),
    "marian": _Spec(_marian_tokenizer, _marian_config, True),
}


def _check_name(name: str) -> _Spec:
    if name not in _SPECS:
        raise ValueError(f"Unknown tiny model {name!r}: choose one of {', '.join(TINY_MODEL_NAMES)}")
    return _SPECS[name]


def is_encoder_decoder(name: str) -> bool:
    """Whether the tiny model ``name`` is an encoder-decoder (load it with ``AutoModelForSeq2SeqLM``).

    Args:
        name: One of :data:`TINY_MODEL_NAMES`.

    Returns:
        ``True`` for ``bart``, ``t5`` and ``marian``, ``False`` for the decoder-only models.

    Example:
        >>> is_encoder_decoder("t5"), is_encoder_decoder("gpt2")
        (True, False)
    """
    return _check_name(name).encoder_decoder


def build_tiny_model(name: str, folder: str | Path, seed: int = 0) -> Path:
    """Build a tiny random model and its tokenizer, and save both into ``folder``.

    The result depends only on ``name``, ``seed`` and the installed library versions: two builds give identical
    weights and identical tokenizer files. The global torch random state is left untouched.

    Args:
        name: One of :data:`TINY_MODEL_NAMES`.
        folder: Destination folder (created if missing; existing files are overwritten).
        seed: Seed for the random weights (and the SentencePiece trainer for ``marian``).

    Returns:
        The folder, as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile
        >>> from transformers import AutoModelForSeq2SeqLM
        >>> path = build_tiny_model("t5", tempfile.mkdtemp())  # doctest: +SKIP
        >>> AutoModelForSeq2SeqLM.from_pretrained(path).config.num_layers  # doctest: +SKIP
        2
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    spec = _check_name(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = spec.tokenizer(get_tiny_corpus(), seed)
    config = spec.config(tokenizer)
    auto_cls = AutoModelForSeq2SeqLM if spec.encoder_decoder else AutoModelForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = auto_cls.from_config(config)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    marker = {"name": name, "seed": seed, "version": TINY_MODELS_VERSION, "tokenizer_size": len(tokenizer)}
    (folder / _MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return folder


def default_cache_dir() -> Path:
    """Return the default cache folder: ``$INSEQ_HOME/tiny-models`` or ``~/.cache/inseq/tiny-models``.

    Example:
        >>> default_cache_dir().name
        'tiny-models'
    """
    home = os.environ.get("INSEQ_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "inseq"
    return base / "tiny-models"


def _cache_key(name: str) -> str:
    import transformers

    return f"{name}-v{TINY_MODELS_VERSION}-transformers{transformers.__version__}"


def get_tiny_model_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """Return the folder of the tiny model ``name`` (seed 0), building it into the cache on first use.

    The model is built into a temporary folder next to its final place and renamed when complete, so concurrent
    processes (e.g. pytest-xdist workers) never see a partial model: whoever loses the race discards its copy.

    Args:
        name: One of :data:`TINY_MODEL_NAMES`.
        cache_dir: Cache folder; defaults to :func:`default_cache_dir`.

    Returns:
        The model folder, loadable with ``AutoTokenizer`` and ``AutoModelForCausalLM`` / ``AutoModelForSeq2SeqLM``.

    Example:
        >>> from transformers import AutoTokenizer
        >>> path = get_tiny_model_path("gpt2")  # doctest: +SKIP
        >>> AutoTokenizer.from_pretrained(path).decode([15])  # doctest: +SKIP
        '0'
    """
    _check_name(name)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / _cache_key(name)
    if (final / _MARKER_FILE).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    try:
        build_tiny_model(name, tmp, seed=0)
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process won the race, or a stale incomplete folder (no marker) is in the way: remove it once.
            if not (final / _MARKER_FILE).is_file():
                shutil.rmtree(final, ignore_errors=True)
                try:
                    os.replace(tmp, final)
                except OSError:
                    if not (final / _MARKER_FILE).is_file():
                        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def iter_tiny_model_paths(cache_dir: str | Path | None = None) -> Iterator[tuple[str, Path]]:
    """Yield ``(name, path)`` for every tiny model, building missing ones.

    Example:
        >>> dict(iter_tiny_model_paths()).keys()  # doctest: +SKIP
        dict_keys(['gpt2', 'llama', 'qwen2', 'gpt_neox', 'bart', 't5', 'marian'])
    """
    for name in TINY_MODEL_NAMES:
        yield name, get_tiny_model_path(name, cache_dir)

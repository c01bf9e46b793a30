"""Synthetic tasks with a known answer and a known gold attribution, used to train the toy example models.

Two families of tasks are defined here, each with a deterministic, seeded generator and a fixed held-in evaluation set:

* Decoder-only tasks (the ``toy-gpt2-ioi`` model):

  - **IOI** (indirect object identification): ``"When Mary and John went to the store, John gave a drink to"`` ->
    ``" Mary."``. The answer is the name mentioned once in the prompt; its earlier occurrence is the gold token.
  - **Copy**: ``"Alice Bob Tom Anna. Alice Bob"`` -> ``" Tom Anna."``. Each copied word has its earlier occurrence
    in the prompt as gold token.
  - **Key-value retrieval** (``"kv"``): ``"Pairs: Mary cup John hat Tom key. John"`` -> ``" hat."``. The answer is
    the value stored after the queried key; that value's occurrence in the prompt is the gold token, and no other
    token holds the answer (unlike IOI, where the repeated subject name is evidence too).

* Encoder-decoder task (the ``toy-marian-translation`` model): word-by-word translation between two made-up
  languages, *Vesk* (source, subject-verb-object, adjectives before nouns) and *Tolu* (target, verb at the end,
  adjectives after nouns). Every target word is the translation of exactly one source word: the gold alignment.
  Determiners are marked for case and the two nouns (and adjectives) of a sentence differ, so no word occurs twice
  in a sentence and the gold alignment is never ambiguous; the final punctuation (``.``, ``?`` or ``!``) is carried
  over, so even the last target word is determined by one source word.

Words are split like the toy tokenizers split them (one leading space kept with the word, punctuation apart), so
for the toy models the *i*-th word of a text is its *i*-th token (the Marian tokenizer appends ``</s>`` after the
last word). Gold character spans cover the bare word, without its leading space.

Example:
    >>> from inseq.examples.tasks import ioi_examples
    >>> ex = ioi_examples(1, seed=0)[0]
    >>> ex.prompt[slice(*ex.gold_char_span)] == ex.target_words[0].strip()
    True
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NAMES",
    "VALUES",
    "KV_OPENING",
    "IOI_TEMPLATES",
    "LEXICON",
    "EVAL_SEED",
    "CausalExample",
    "TranslationExample",
    "split_words",
    "ioi_examples",
    "copy_examples",
    "kv_examples",
    "kv_sources",
    "causal_examples",
    "translate",
    "translation_examples",
    "eval_set",
]

#: Opening words of every key-value prompt.
KV_OPENING = "Pairs:"

#: Seed of the fixed held-in evaluation sets returned by :func:`eval_set`.
EVAL_SEED = 1234

#: The 24 names used by the decoder-only tasks (all single tokens, with or without a leading space).
NAMES: tuple[str, ...] = (
    "Mary",
    "John",
    "Alice",
    "Bob",
    "Tom",
    "Anna",
    "James",
    "Sarah",
    "David",
    "Emma",
    "Paul",
    "Laura",
    "Mark",
    "Julia",
    "Peter",
    "Lucy",
    "Kevin",
    "Rachel",
    "Chris",
    "Nina",
    "Daniel",
    "Sophie",
    "Michael",
    "Kate",
)

#: The 16 values of the key-value task (single tokens; none of them occurs in the IOI templates).
VALUES: tuple[str, ...] = (
    "apple",
    "cup",
    "hat",
    "key",
    "lamp",
    "ring",
    "coin",
    "shoe",
    "box",
    "bag",
    "map",
    "card",
    "bell",
    "leaf",
    "rose",
    "kite",
)

#: IOI prompt templates: ``{A}`` and ``{B}`` are the two names introduced, ``{S}`` the subject (a repeated name).
IOI_TEMPLATES: tuple[str, ...] = (
    "When {A} and {B} went to the store, {S} gave a drink to",
    "When {A} and {B} went to the park, {S} gave a ball to",
    "After {A} and {B} went to the school, {S} gave a book to",
    "While {A} and {B} were working at the office, {S} handed a pen to",
    "Then, {A} and {B} had a long argument, and afterwards {S} said to",
    "Yesterday {A} and {B} went to the garden, and {S} gave a flower to",
)

#: Lexicon of the toy translation task: concept -> (category, Vesk source word, Tolu target word).
LEXICON: dict[str, tuple[str, str, str]] = {
    # determiners, marked for case: subject (nominative) and object (accusative)
    "the (subject)": ("det_subject", "ka", "lo"),
    "a (subject)": ("det_subject", "te", "ni"),
    "the (object)": ("det_object", "ko", "lu"),
    "a (object)": ("det_object", "ti", "na"),
    # nouns
    "dog": ("noun", "brok", "tami"),
    "cat": ("noun", "fen", "lona"),
    "bird": ("noun", "darv", "peku"),
    "horse": ("noun", "kul", "ripa"),
    "child": ("noun", "mest", "sola"),
    "woman": ("noun", "pord", "wenu"),
    "man": ("noun", "relk", "kavi"),
    "king": ("noun", "sown", "doru"),
    "farmer": ("noun", "trab", "mika"),
    "teacher": ("noun", "gilt", "fela"),
    "fish": ("noun", "hask", "buno"),
    "tree": ("noun", "jorn", "gize"),
    "house": ("noun", "lum", "hara"),
    "apple": ("noun", "nast", "nulo"),
    "river": ("noun", "vib", "vepa"),
    "stone": ("noun", "zork", "zedi"),
    # adjectives
    "big": ("adj", "blen", "amo"),
    "small": ("adj", "crast", "eli"),
    "red": ("adj", "drim", "ipu"),
    "green": ("adj", "flok", "oka"),
    "old": ("adj", "grun", "ule"),
    "young": ("adj", "hept", "aria"),
    "happy": ("adj", "klim", "eno"),
    "sad": ("adj", "plest", "iso"),
    "fast": ("adj", "quin", "ovi"),
    "slow": ("adj", "smar", "uma"),
    "strong": ("adj", "trel", "ezu"),
    "quiet": ("adj", "yosk", "ade"),
    # verbs
    "sees": ("verb", "dask", "bakora"),
    "likes": ("verb", "glor", "delisi"),
    "finds": ("verb", "hilt", "fimuna"),
    "follows": ("verb", "krem", "gotara"),
    "helps": ("verb", "morv", "hulemi"),
    "carries": ("verb", "prask", "kanipo"),
    "hears": ("verb", "slen", "lomeda"),
    "paints": ("verb", "tosk", "mirasu"),
    "knows": ("verb", "vond", "nokime"),
    "visits": ("verb", "wrel", "patulo"),
    "draws": ("verb", "yark", "rasimo"),
    "wants": ("verb", "zemt", "sekuna"),
    # sentence-final punctuation, kept as is
    "statement": ("punct", ".", "."),
    "question": ("punct", "?", "?"),
    "exclamation": ("punct", "!", "!"),
}

_WORD_RE = re.compile(r" ?[A-Za-z]+| ?[^\sA-Za-z]")
_SOURCE_TO_TARGET: dict[str, str] = {src: tgt for _, src, tgt in LEXICON.values()}
_CATEGORY: dict[str, str] = {src: cat for cat, src, _ in LEXICON.values()}


def _words_of(category: str) -> list[str]:
    return [src for cat, src, _ in LEXICON.values() if cat == category]


@dataclass(frozen=True)
class CausalExample:
    """One example of a decoder-only task with its gold attribution.

    Attributes:
        task: ``"ioi"``, ``"copy"`` or ``"kv"``.
        prompt: The text given to the model, e.g. ``"When Mary and John went to the store, John gave a drink to"``.
        target: The expected greedy continuation (the model then emits its EOS token), e.g. ``" Mary."``.
        prompt_words: The words of ``prompt`` as split by :func:`split_words` (one token each for the toy model).
        target_words: The words of ``target``, e.g. ``(" Mary", ".")``.
        gold_word_indices: For each target word, the index in ``prompt_words`` of the earlier word that determines
            it, or ``None`` when no single earlier word does (the final period of an IOI sentence).
        gold_char_spans: For each target word, the ``(start, end)`` character span in ``prompt`` of that gold word
            (without its leading space), or ``None``.

    Example:
        >>> ex = CausalExample.from_parts("copy", "Alice Bob Tom Anna. Alice Bob", " Tom Anna.", (2, 3, 4))
        >>> ex.prompt_words[ex.gold_word_index], ex.text
        (' Tom', 'Alice Bob Tom Anna. Alice Bob Tom Anna.')
    """

    task: Literal["ioi", "copy", "kv"]
    prompt: str
    target: str
    prompt_words: tuple[str, ...]
    target_words: tuple[str, ...]
    gold_word_indices: tuple[int | None, ...]
    gold_char_spans: tuple[tuple[int, int] | None, ...]

    @classmethod
    def from_parts(
        cls, task: Literal["ioi", "copy", "kv"], prompt: str, target: str, gold_word_indices: tuple[int | None, ...]
    ) -> CausalExample:
        """Build an example from its texts and gold word indices, deriving words and character spans.

        Args:
            task: ``"ioi"``, ``"copy"`` or ``"kv"``.
            prompt: The prompt text.
            target: The expected continuation.
            gold_word_indices: For each word of ``target``, the index of its gold word in the prompt (or ``None``).

        Returns:
            The example.

        Example:
            >>> CausalExample.from_parts("ioi", "When Mary and John went to the store, John gave a drink to",
            ...                          " Mary.", (1, None)).gold_char_spans
            ((5, 9), None)
        """
        prompt_spans = _word_spans(prompt)
        target_words = tuple(split_words(target))
        if len(target_words) != len(gold_word_indices):
            raise ValueError(f"{len(target_words)} target words but {len(gold_word_indices)} gold indices")
        spans = tuple(None if i is None else prompt_spans[i][1] for i in gold_word_indices)
        return cls(
            task=task,
            prompt=prompt,
            target=target,
            prompt_words=tuple(w for w, _ in prompt_spans),
            target_words=target_words,
            gold_word_indices=tuple(gold_word_indices),
            gold_char_spans=spans,
        )

    @property
    def text(self) -> str:
        """The full text ``prompt + target``."""
        return self.prompt + self.target

    @property
    def gold_word_index(self) -> int:
        """Index in ``prompt_words`` of the gold word for the *first* generated word (the next token)."""
        index = self.gold_word_indices[0]
        assert index is not None
        return index

    @property
    def gold_char_span(self) -> tuple[int, int]:
        """Character span in ``prompt`` of the gold word for the first generated word."""
        span = self.gold_char_spans[0]
        assert span is not None
        return span


@dataclass(frozen=True)
class TranslationExample:
    """One Vesk -> Tolu translation example with its gold word alignment.

    Attributes:
        source: Source (Vesk) sentence, e.g. ``"ka blen brok dask ti fen."``.
        target: Reference (Tolu) translation, e.g. ``"lo tami amo na lona bakora."``.
        source_words: Words of ``source`` (one token each for the toy tokenizer, which then appends ``</s>``).
        target_words: Words of ``target``.
        alignment: For each target word, the index in ``source_words`` of the source word it translates.

    Example:
        >>> ex = translate("ka blen brok dask ti fen.")
        >>> ex.target, ex.alignment
        ('lo tami amo na lona bakora.', (0, 2, 1, 4, 5, 3, 6))
    """

    source: str
    target: str
    source_words: tuple[str, ...]
    target_words: tuple[str, ...]
    alignment: tuple[int, ...]


def _word_spans(text: str) -> list[tuple[str, tuple[int, int]]]:
    spans = []
    for match in _WORD_RE.finditer(text):
        word = match.group()
        start = match.start() + (1 if word.startswith(" ") else 0)
        spans.append((word, (start, match.end())))
    if "".join(w for w, _ in spans) != text:
        raise ValueError(f"Text {text!r} cannot be split into words losslessly")
    return spans


def split_words(text: str) -> list[str]:
    """Split a text into words the way the toy tokenizers do: leading space kept, punctuation apart.

    Args:
        text: A text made of ASCII letters, single spaces and punctuation.

    Returns:
        The words, whose concatenation is ``text``.

    Example:
        >>> split_words("When Mary and John went to the store, John")
        ['When', ' Mary', ' and', ' John', ' went', ' to', ' the', ' store', ',', ' John']
    """
    return [w for w, _ in _word_spans(text)]


def ioi_examples(n: int, seed: int = 0) -> list[CausalExample]:
    """Generate IOI examples: two names are introduced, one is repeated, the answer is the other one.

    Both name orders are sampled (the answer is the first or the second name introduced) with equal probability.

    Args:
        n: Number of examples.
        seed: Seed of the generator; the same seed always gives the same examples.

    Returns:
        The examples, whose target is the indirect object followed by a period (e.g. ``" Mary."``).

    Example:
        >>> ex = ioi_examples(3, seed=0)[2]
        >>> ex == ioi_examples(3, seed=0)[2]
        True
        >>> ex.target_words[0] in [" " + name for name in NAMES]
        True
    """
    rng = random.Random(f"ioi-{seed}")
    examples = []
    for _ in range(n):
        template = rng.choice(IOI_TEMPLATES)
        a, b = rng.sample(NAMES, 2)
        io_first = rng.random() < 0.5
        io, s = (a, b) if io_first else (b, a)
        prompt = template.format(A=a, B=b, S=s)
        # The IO fills the first or the second name slot of the template.
        slot_words = split_words(template.format(A="AAA", B="BBB", S="SSS"))
        slot = "AAA" if io_first else "BBB"
        gold = next(i for i, w in enumerate(slot_words) if w.strip() == slot)
        examples.append(CausalExample.from_parts("ioi", prompt, f" {io}.", (gold, None)))
    return examples


def copy_examples(n: int, seed: int = 0) -> list[CausalExample]:
    """Generate copy examples: a list of 4 or 5 distinct names, a period, then the list repeated.

    The prompt repeats the first 2 to ``length - 1`` names; the target completes the list and its final period.

    Args:
        n: Number of examples.
        seed: Seed of the generator; the same seed always gives the same examples.

    Returns:
        The examples, e.g. ``"Alice Bob Tom Anna. Alice Bob"`` -> ``" Tom Anna."``.

    Example:
        >>> ex = copy_examples(1, seed=0)[0]
        >>> all(ex.prompt_words[i] == w for i, w in zip(ex.gold_word_indices, ex.target_words))
        True
    """
    rng = random.Random(f"copy-{seed}")
    examples = []
    for _ in range(n):
        length = rng.choice((4, 5))
        names = rng.sample(NAMES, length)
        shown = rng.randint(2, length - 1)
        prompt = " ".join(names) + ". " + " ".join(names[:shown])
        target = " " + " ".join(names[shown:]) + "."
        gold = tuple(range(shown, length + 1))  # each remaining name, then the first period
        examples.append(CausalExample.from_parts("copy", prompt, target, gold))
    return examples


def kv_examples(n: int, seed: int = 0, lengths: tuple[int, ...] = (3, 4)) -> list[CausalExample]:
    """Generate key-value retrieval examples: ``Pairs:``, 3 or 4 ``name value`` pairs, a period, then one of the names.

    Keys are distinct names, values distinct words of :data:`VALUES`; the queried key is any of the pairs. The answer
    is determined by exactly one earlier token: the value stored after the queried key. The ``Pairs:`` opening puts
    every key after a space, so the queried name is the very token stored in the list (`` Mary``, never ``Mary``).

    Args:
        n: Number of examples.
        seed: Seed of the generator; the same seed always gives the same examples.
        lengths: Numbers of pairs to draw from (the evaluation sets use 3 or 4; the toy model is trained on 2 to 4,
            so that removing one pair of a held-in prompt, as leave-one-out source attribution does, stays within
            what it learned).

    Returns:
        The examples, e.g. ``"Pairs: Mary cup John hat Tom key. John"`` -> ``" hat."`` (gold: the word `` hat``).

    Example:
        >>> ex = kv_examples(1, seed=0)[0]
        >>> ex.prompt_words[ex.gold_word_index] == ex.target_words[0]
        True
        >>> ex.prompt_words[ex.gold_word_index - 1] == ex.prompt_words[-1]
        True
    """
    rng = random.Random(f"kv-{seed}")
    examples = []
    opening = split_words(KV_OPENING)
    for _ in range(n):
        length = rng.choice(lengths)
        keys = rng.sample(NAMES, length)
        values = rng.sample(VALUES, length)
        query = rng.randrange(length)
        prompt = KV_OPENING + "".join(f" {k} {v}" for k, v in zip(keys, values)) + ". " + keys[query]
        gold = len(opening) + 2 * query + 1
        examples.append(CausalExample.from_parts("kv", prompt, f" {values[query]}.", (gold, None)))
    return examples


def causal_examples(
    n: int, seed: int = 0, ioi_fraction: float = 0.5, kv_fraction: float = 0.0, kv_lengths: tuple[int, ...] = (3, 4)
) -> list[CausalExample]:
    """Generate a shuffled mix of IOI, copy and (optionally) key-value examples.

    The defaults give the two-task mix of earlier versions (half IOI, half copy); the shipped ``toy-gpt2-ioi`` is
    trained on ``ioi_fraction=0.25, kv_fraction=0.5`` (``scripts/train_toy_models.py``).

    Args:
        n: Number of examples.
        seed: Seed of the generator.
        ioi_fraction: Fraction of IOI examples.
        kv_fraction: Fraction of key-value examples (the rest are copy examples).
        kv_lengths: Numbers of pairs of the key-value examples (see :func:`kv_examples`).

    Returns:
        The examples.

    Example:
        >>> sorted({ex.task for ex in causal_examples(20, seed=1)})
        ['copy', 'ioi']
        >>> sorted({ex.task for ex in causal_examples(30, seed=1, ioi_fraction=1 / 3, kv_fraction=1 / 3)})
        ['copy', 'ioi', 'kv']
    """
    if ioi_fraction < 0 or kv_fraction < 0 or ioi_fraction + kv_fraction > 1:
        raise ValueError(f"ioi_fraction ({ioi_fraction}) and kv_fraction ({kv_fraction}) must be >= 0 and sum to <= 1")
    n_ioi = round(n * ioi_fraction)
    n_kv = round(n * kv_fraction)
    examples = (
        ioi_examples(n_ioi, seed=seed)
        + copy_examples(n - n_ioi - n_kv, seed=seed)
        + kv_examples(n_kv, seed, kv_lengths)
    )
    random.Random(f"mix-{seed}").shuffle(examples)
    return examples


def translate(source: str) -> TranslationExample:
    """Translate a Vesk sentence into Tolu with the lexicon and the reordering rule, giving the gold alignment.

    Vesk is ``DET_SUBJ [ADJ] NOUN VERB DET_OBJ [ADJ] NOUN PUNCT``; Tolu puts each adjective after its noun and the
    verb at the end: ``DET_SUBJ NOUN [ADJ] DET_OBJ NOUN [ADJ] VERB PUNCT``.

    Args:
        source: A Vesk sentence following that grammar.

    Returns:
        The example with the reference translation and alignment.

    Example:
        >>> translate("te relk krem ko grun kul?").target
        'ni kavi lu ripa ule gotara?'
    """
    words = [w.strip() for w in split_words(source)]
    if not words or _CATEGORY.get(words[-1]) != "punct":
        raise ValueError(f"Source {source!r} must end with '.', '?' or '!'")
    verb_positions = [i for i, w in enumerate(words) if _CATEGORY.get(w) == "verb"]
    if len(verb_positions) != 1:
        raise ValueError(f"Source {source!r} must contain exactly one verb")
    verb = verb_positions[0]
    order: list[int] = []
    for start, end, det in ((0, verb, "det_subject"), (verb + 1, len(words) - 1, "det_object")):
        phrase = list(range(start, end))
        cats = [_CATEGORY.get(words[i]) for i in phrase]
        if cats not in ([det, "noun"], [det, "adj", "noun"]):
            raise ValueError(f"Noun phrase {[words[i] for i in phrase]} must be {det.upper()} [ADJ] NOUN")
        order += [phrase[0], phrase[-1]] + phrase[1:-1]
    order += [verb, len(words) - 1]
    target_words = [_SOURCE_TO_TARGET[words[i]] for i in order]
    target = " ".join(target_words[:-1]) + target_words[-1]
    return TranslationExample(
        source=source,
        target=target,
        source_words=tuple(words),
        target_words=tuple(target_words),
        alignment=tuple(order),
    )


def translation_examples(n: int, seed: int = 0, adjective_probability: float = 0.5) -> list[TranslationExample]:
    """Generate random Vesk sentences and their gold Tolu translations and alignments.

    Args:
        n: Number of examples.
        seed: Seed of the generator; the same seed always gives the same examples.
        adjective_probability: Probability that each noun phrase has an adjective.

    Returns:
        The examples.

    Example:
        >>> ex = translation_examples(1, seed=0)[0]
        >>> len(ex.target_words) == len(ex.source_words) == len(ex.alignment)
        True
    """
    rng = random.Random(f"translation-{seed}")
    nouns, adjs, verbs, puncts = (_words_of(c) for c in ("noun", "adj", "verb", "punct"))
    examples = []
    for _ in range(n):
        subject_noun, object_noun = rng.sample(nouns, 2)
        subject_adj, object_adj = rng.sample(adjs, 2)
        subject = [rng.choice(_words_of("det_subject"))]
        subject += [subject_adj] if rng.random() < adjective_probability else []
        obj = [rng.choice(_words_of("det_object"))]
        obj += [object_adj] if rng.random() < adjective_probability else []
        words = [*subject, subject_noun, rng.choice(verbs), *obj, object_noun]
        examples.append(translate(" ".join(words) + rng.choice(puncts)))
    return examples


def kv_sources(example: CausalExample) -> tuple[list[str], str, int]:
    """A key-value example as a source attribution task: ``(pairs, query, index of the queried pair)``.

    The pairs are the sources (``"Mary cup"``); with ``template="Pairs: {context}. {query}"`` and ``separator=" "``
    the prompt is the example's own, and the response depends on the queried pair only.

    Example:
        >>> kv_sources(CausalExample.from_parts("kv", "Pairs: Mary cup John hat. John", " hat.", (4, None)))
        (['Mary cup', 'John hat'], 'John', 1)
    """
    if example.task != "kv":
        raise ValueError(f"kv_sources needs a key-value example, got task {example.task!r}.")
    body, query = example.prompt[len(KV_OPENING) :].rsplit(". ", 1)
    words = body.split()
    pairs = [f"{words[i]} {words[i + 1]}" for i in range(0, len(words), 2)]
    return pairs, query, [p.split()[0] for p in pairs].index(query)


def eval_set(
    task: Literal["ioi", "copy", "kv", "translation"], size: int = 100
) -> list[CausalExample] | list[TranslationExample]:
    """Return the fixed held-in evaluation set of a task (same names and words as in training).

    Args:
        task: ``"ioi"``, ``"copy"``, ``"kv"`` or ``"translation"``.
        size: Number of examples (the first ``size`` of the fixed sequence, so smaller sets are prefixes).

    Returns:
        The examples, generated with :data:`EVAL_SEED`.

    Example:
        >>> eval_set("ioi", 2)[0].prompt == eval_set("ioi", 5)[0].prompt
        True
    """
    if task == "ioi":
        return ioi_examples(size, seed=EVAL_SEED)
    if task == "copy":
        return copy_examples(size, seed=EVAL_SEED)
    if task == "kv":
        return kv_examples(size, seed=EVAL_SEED)
    if task == "translation":
        return translation_examples(size, seed=EVAL_SEED)
    raise ValueError(f"Unknown task {task!r}: expected one of 'ioi', 'copy', 'kv', 'translation'")

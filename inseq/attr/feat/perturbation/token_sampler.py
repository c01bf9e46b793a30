"""Replacement-token samplers for ReAGent.

``UniformTokenSampler`` draws replacements uniformly from the vocabulary without special tokens: it needs nothing
beyond the tokenizer and works offline. ``POSTokenSampler`` draws a replacement with the same part-of-speech tag as
the token it replaces (as inseq 0.7 does, via NLTK's averaged perceptron tagger); it needs ``nltk`` and its tagger
data installed locally and raises an explicit error otherwise (nothing is downloaded).

Example:
    >>> import torch
    >>> sampler = UniformTokenSampler(vocab_size=10, special_ids=[0, 1])
    >>> draws = sampler.sample(torch.zeros(3, 4, dtype=torch.long), torch.Generator().manual_seed(0))
    >>> bool((draws >= 2).all())
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

SAMPLERS = ("uniform", "pos")


class UniformTokenSampler:
    """Uniform draws over ``range(vocab_size)`` minus ``special_ids``."""

    def __init__(self, vocab_size: int, special_ids: list[int]) -> None:
        special = set(int(i) for i in special_ids)
        self.candidates = torch.tensor([i for i in range(vocab_size) if i not in special], dtype=torch.long)
        if len(self.candidates) == 0:
            raise ValueError("The vocabulary holds only special tokens: no replacement token can be sampled.")

    def sample(self, ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One replacement for every entry of ``ids`` (same shape)."""
        picks = torch.randint(len(self.candidates), tuple(ids.shape), generator=generator)
        return self.candidates[picks]


class POSTokenSampler:
    """Draws replacements sharing the part-of-speech tag (NLTK) of the replaced token.

    Tokens whose tag has no other vocabulary entry fall back to uniform draws.
    """

    def __init__(self, words: Callable[[], list[str]], vocab_size: int, special_ids: list[int]) -> None:
        try:
            import nltk
        except ImportError as err:
            raise ImportError(
                "token_sampler='pos' needs the nltk package (pip install nltk) and its tagger data; "
                "use token_sampler='uniform' to sample offline without it."
            ) from err
        special = set(int(i) for i in special_ids)
        words = [w.strip() or "." for w in words()[:vocab_size]]
        try:
            tags = [tag for _, tag in nltk.pos_tag(words)]
        except LookupError as err:
            raise LookupError(
                "token_sampler='pos' needs NLTK's 'averaged_perceptron_tagger' data installed locally "
                "(python -m nltk.downloader averaged_perceptron_tagger_eng); use token_sampler='uniform' otherwise."
            ) from err
        self.uniform = UniformTokenSampler(vocab_size, special_ids)
        groups: dict[str, list[int]] = {}
        for i, tag in enumerate(tags):
            if i not in special:
                groups.setdefault(tag, []).append(i)
        self.tag_of = torch.tensor([sorted(groups).index(t) if t in groups else -1 for t in tags], dtype=torch.long)
        self.pools = [torch.tensor(groups[t], dtype=torch.long) for t in sorted(groups)]

    def sample(self, ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One same-tag replacement for every entry of ``ids`` (uniform for untagged or special tokens)."""
        out = self.uniform.sample(ids, generator)
        tags = self.tag_of[ids.clamp(0, len(self.tag_of) - 1)]
        for t, pool in enumerate(self.pools):
            where = tags == t
            count = int(where.sum())
            if count:
                out[where] = pool[torch.randint(len(pool), (count,), generator=generator)]
        return out


def make_token_sampler(
    name: str, words: Callable[[], list[str]], vocab_size: int, special_ids: list[int]
) -> UniformTokenSampler | POSTokenSampler:
    """Build the sampler called ``name`` (``"uniform"`` or ``"pos"``); ``words()`` lists the decoded vocabulary."""
    if name == "uniform":
        return UniformTokenSampler(vocab_size, special_ids)
    if name == "pos":
        return POSTokenSampler(words, vocab_size, special_ids)
    raise ValueError(f"token_sampler must be one of {SAMPLERS}, got {name!r}.")

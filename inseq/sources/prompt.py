"""The prompt of a source attribution: the context (or conversation) with some sources kept, as text and token ids.

A context string goes into ``template`` (``{context}``, and ``{query}`` when the template names it); by default the
result is one user message formatted with the tokenizer's chat template, as ContextCite does (``chat_template=False``:
plain text). An ablated prompt joins the kept sources with ``separator``. A conversation (``messages``) is formatted
with the chat template, an ablated one keeping only its kept messages (``source_type="message"``) or the kept sources
of each message's content.

Example:
    >>> builder = PromptBuilder.for_context(["Mary cup", "John hat"], "John", "Pairs: {context}. {query}", " ",
    ...     "sentence", chat=False)
    >>> builder.text([True, False])
    'Pairs: Mary cup. John'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..utils.errors import InvalidArgumentError
from .split import SOURCE_TYPES, Source, join_sources, split_sources

_SENTINEL = "\x00inseq-context\x00"


@dataclass
class PromptBuilder:
    """Builds the prompt with any subset of the sources kept.

    Attributes:
        sources: The sources, in order.
        parts: The texts the sources come from (the context; or the messages' contents).
        template: The prompt template (context input).
        query: The query put into the template.
        separator: What joins kept sources.
        messages: The conversation (chat input), or None.
        whole_parts: Sources are whole messages (``source_type="message"``).
        chat: Format with the chat template.
        tokenizer: The model's tokenizer (needed when ``chat``).
        chat_template: A Jinja chat template used instead of the tokenizer's own (None: the tokenizer's).
    """

    sources: list[Source]
    parts: list[str]
    template: str = "{context}"
    query: str | None = None
    separator: str = " "
    messages: list[dict[str, str]] | None = None
    whole_parts: bool = False
    chat: bool = False
    tokenizer: Any = field(default=None, repr=False)
    chat_template: str | None = None

    @classmethod
    def for_context(
        cls,
        context: str | Sequence[str],
        query: str | None,
        template: str,
        separator: str,
        source_type: str,
        chat: bool,
        tokenizer: Any = None,
    ) -> PromptBuilder:
        """A builder for a context string (split by ``source_type``) or a list of sources."""
        check_template(template, query)
        if isinstance(context, str):
            if not context.strip():
                raise InvalidArgumentError("context is empty: pass the text (or the list of sources) to attribute to.")
            check_source_type(source_type, ("message",))
            sources = split_sources(context, source_type)
            if not sources:
                raise InvalidArgumentError(f"The context holds no {source_type}: nothing to attribute to.")
        else:
            context, sources = join_sources(context, separator)
        return cls(sources, [context], template, query, separator, chat=chat, tokenizer=tokenizer)

    @classmethod
    def for_messages(cls, messages: Sequence[dict[str, str]], source_type: str, separator: str, tokenizer: Any):
        """A builder for a conversation whose sources are its messages (or the sources of their contents)."""
        messages = check_messages(messages)
        check_source_type(source_type, ("message",))
        contents = [m["content"] for m in messages]
        if source_type == "message":
            sources = [Source(text, 0, len(text), i) for i, text in enumerate(contents)]
        else:
            sources = [s for i, text in enumerate(contents) for s in split_sources(text, source_type, part=i)]
        if not sources:
            raise InvalidArgumentError(f"The messages hold no {source_type}: nothing to attribute to.")
        return cls(
            sources, contents, separator=separator, messages=messages, whole_parts=source_type == "message",
            chat=True, tokenizer=tokenizer,
        )  # fmt: skip

    @property
    def context(self) -> str:
        """The full context (chat input: the messages' contents, one per line)."""
        return self.parts[0] if self.messages is None else "\n".join(self.parts)

    def _part_text(self, part: int, keep: Sequence[bool]) -> str | None:
        kept = [s.text for s, k in zip(self.sources, keep) if k and s.part == part]
        if self.whole_parts:
            return self.parts[part] if kept else None
        return self.separator.join(kept)

    def text(self, keep: Sequence[bool] | None = None) -> str:
        """The prompt with the sources where ``keep`` is True (None: all of them)."""
        keep = [True] * len(self.sources) if keep is None else list(keep)
        if self.messages is not None:
            msgs = []
            for i, message in enumerate(self.messages):
                content = self._part_text(i, keep)
                if content is not None:
                    msgs.append({**message, "content": content})
            return self._chat(msgs)
        content = self.template.format(context=self._part_text(0, keep), query=self.query)
        return self._chat([{"role": "user", "content": content}]) if self.chat else content

    def _chat(self, messages: list[dict[str, str]]) -> str:
        extra = {} if self.chat_template is None else {"chat_template": self.chat_template}
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)

    def source_char_spans(self) -> list[tuple[int, int]]:
        """Character spans of every source in the full prompt text (:meth:`text` with all sources kept).

        Raises:
            InvalidArgumentError: naming the first source the formatted prompt does not hold as it is (e.g. a chat
                template that rewrites the messages).
        """
        prompt = self.text()
        if self.messages is None:
            content = self.template.format(context=_SENTINEL, query=self.query)
            offset = content.index(_SENTINEL)
            if self.chat:
                found = prompt.find(self.template.format(context=self.parts[0], query=self.query))
                offset = found + offset if found >= 0 else -1
            spans = [(offset + s.start, offset + s.end) for s in self.sources]
        else:
            cursor, starts = 0, {}
            for i, content in enumerate(self.parts):
                starts[i] = prompt.find(content, cursor)
                cursor = max(cursor, starts[i] + len(content))
            spans = [(starts[s.part] + s.start, starts[s.part] + s.end) for s in self.sources]
        for i, ((a, b), source) in enumerate(zip(spans, self.sources)):
            if a < 0 or prompt[a:b] != source.text:
                raise InvalidArgumentError(
                    f"Source {i} ({source.text!r}) is not in the formatted prompt as it is: the chat template changes "
                    "the context, so its tokens cannot be told apart. Use a template that keeps messages verbatim."
                )
        return spans


def check_template(template: Any, query: Any) -> None:
    """A template must be a string naming ``{context}``; ``{query}`` needs a query."""
    if not isinstance(template, str) or "{context}" not in template:
        raise InvalidArgumentError(
            f"template={template!r} must be a string containing '{{context}}' (e.g. 'Context: {{context}}\\n\\nQuery: "
            "{query}')."
        )
    if "{query}" in template and not isinstance(query, str):
        raise InvalidArgumentError(
            f"template {template!r} has a '{{query}}' field: pass query= (a string), got {query!r}."
        )
    try:
        template.format(context="", query=query)
    except (KeyError, IndexError, ValueError) as err:
        raise InvalidArgumentError(
            f"template={template!r} can only have the fields {{context}} and {{query}}: {err}"
        ) from err


def check_source_type(source_type: Any, extra: tuple[str, ...] = ()) -> None:
    """``source_type`` must be one of :data:`~inseq.sources.split.SOURCE_TYPES` (or ``extra``)."""
    valid = (*SOURCE_TYPES, *extra)
    if source_type not in valid:
        raise InvalidArgumentError(f"source_type={source_type!r} is not valid; use one of {', '.join(valid)}.")


def check_messages(messages: Any) -> list[dict[str, str]]:
    """A conversation: a non-empty list of ``{"role", "content"}`` dicts with string values."""
    if isinstance(messages, dict) or not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise InvalidArgumentError(
            f"messages must be a non-empty list of {{'role': ..., 'content': ...}} dicts, got {type(messages).__name__}."
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidArgumentError(f"messages[{i}] must be a dict with a 'role' string, got {message!r}.")
        if not isinstance(message.get("content"), str):
            raise InvalidArgumentError(f"messages[{i}] must have a 'content' string, got {message.get('content')!r}.")
    return [dict(m) for m in messages]

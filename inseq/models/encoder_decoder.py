"""Encoder-decoder models (Marian, BART, T5, ...): the source is encoded once, the target starts with the decoder
start token."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM
from transformers.modeling_outputs import BaseModelOutput

from ..attr.port import AttentionMaps, ModelStructure
from ..data.batch import AttributionBatch, EncoderDecoderBatch, Example
from ..utils.checks import check_texts
from .attention_rows import attention_forward
from .huggingface_model import HuggingfaceModel
from .limits import check_target_length, fit_prompts
from .model_config import get_model_config
from .positions import resolve_positions
from .structure import attention_sites, find_layers, require_output, stack_attentions


class HuggingfaceEncoderDecoderModel(HuggingfaceModel):
    """An encoder-decoder HuggingFace model (loaded with ``AutoModelForSeq2SeqLM``)."""

    _autoclass = AutoModelForSeq2SeqLM

    def _tokenize(self, text: str | list[int], as_targets: bool, add_special_tokens: bool) -> list[int]:
        if isinstance(text, list):  # token ids are used as given, special tokens included
            return list(text)
        if as_targets:
            return self.tokenizer(text_target=text, add_special_tokens=add_special_tokens)["input_ids"]
        return self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]

    def _target_ids(self, text: str | list[int], add_special_tokens: bool) -> list[int]:
        ids = self._tokenize(text, True, add_special_tokens)
        if isinstance(text, list) and ids and ids[0] == self.bos_token_id:
            return ids  # target ids already starting with the decoder start token
        return [self.bos_token_id, *ids]

    # ------------------------------------------------------------------ examples
    def prepare_examples(
        self,
        input_texts: list[str],
        generated_texts: list[str] | None,
        generation_args: dict[str, Any],
        skip_special_tokens: bool = False,
        generate_from_target_prefix: bool = False,
        truncate_inputs: bool = False,
    ) -> list[Example]:
        """Tokenise sources, then generate targets (optionally from a forced prefix) or tokenise the given ones."""
        for i, text in enumerate(input_texts):
            if not text:
                raise ValueError(f"input_texts[{i}] is empty: encoder-decoder models need a non-empty source text.")
        add_special = not skip_special_tokens
        sources = [self._tokenize(t, False, add_special) for t in input_texts]
        generating = generated_texts is None or generate_from_target_prefix
        sources = fit_prompts(self, sources, generation_args if generating else None, truncate_inputs)
        if generated_texts is not None and not generate_from_target_prefix:
            return [
                Example(
                    src,
                    check_target_length(self, self._target_ids(tgt, add_special), i),
                    1,
                    self._text_of(text),
                    self._text_of(tgt),
                )
                for i, (src, text, tgt) in enumerate(zip(sources, input_texts, generated_texts))
            ]
        prefixes = None
        if generated_texts is not None:
            prefixes = [self._target_ids(t, False) for t in generated_texts]
        return self._generate_examples(input_texts, sources, prefixes, generation_args)

    def contrast_examples(
        self, examples: list[Example], sources: list[str] | None, targets: list[str] | None, skip_special_tokens: bool
    ) -> list[Example]:
        """Examples of the contrastive side: contrast sources and/or targets replace the original ones."""
        add_special = not skip_special_tokens
        out = []
        for i, ex in enumerate(examples):
            src = ex.source_ids if sources is None else self._tokenize(sources[i], False, add_special)
            tgt = ex.target_ids if targets is None else self._target_ids(targets[i], add_special)
            if len(tgt) < 2:
                raise ValueError(f"contrast_targets[{i}] is empty.")
            out.append(Example(src, tgt, 1, sources[i] if sources else ex.input_text, ex.generated_text))
        return out

    def example_of(self, sequence: Any) -> Example:
        """The example an attribution sequence output describes, from its source and target token ids.

        Example:
            >>> len(model.example_of(out[0]).source_ids) == len(out[0].source)  # doctest: +SKIP
            True
        """
        return Example([t.id for t in sequence.source], [t.id for t in sequence.target], 1, "", "")

    def response_example(
        self, prompt_ids: list[int], response: str | list[int] | None, generation_args: dict[str, Any]
    ) -> Example:
        """The example of a source (token ids) and its response (the target): generated when None, else forced.

        A trailing EOS is not part of the response.

        Example:
            >>> ex = model.response_example(model.encode(["Hello"]).input_ids[0].tolist(), "Bonjour", {})  # doctest: +SKIP
        """
        source = fit_prompts(self, [list(prompt_ids)], generation_args if response is None else None)[0]
        if response is None:
            target = self._generate_examples([""], [source], None, generation_args)[0].target_ids
        else:
            target = self._target_ids(response, False) if isinstance(response, str) else [self.bos_token_id, *response]
        if len(target) > 2 and target[-1] == self.eos_token_id:
            target = target[:-1]
        check_target_length(self, target, 0)
        return Example(source, target, 1, "", self.tokenizer.decode(target[1:], skip_special_tokens=True))

    def with_input(self, example: Example, input_ids: list[int]) -> Example:
        """The same response (target) after another source (token ids).

        Example:
            >>> model.with_input(ex, [5, 6]).source_ids  # doctest: +SKIP
            [5, 6]
        """
        return Example(list(input_ids), example.target_ids, 1, "", example.generated_text)

    def _generate_examples(
        self,
        input_texts: list[str],
        sources: list[list[int]],
        prefixes: list[list[int]] | None,
        generation_args: dict[str, Any],
    ) -> list[Example]:
        """Generate a target for every source in one batched ``generate`` call (one call per forced prefix)."""
        if prefixes is None:
            rows = self._generate_rows(sources, None, generation_args)
        else:
            rows = [self._generate_rows([src], prefix, generation_args)[0] for src, prefix in zip(sources, prefixes)]
        examples = []
        for text, src, ids in zip(input_texts, sources, rows):
            if self.eos_token_id in ids[1:]:
                ids = ids[: ids.index(self.eos_token_id, 1) + 1]
            if ids[0] != self.bos_token_id:
                ids = [self.bos_token_id] + ids
            examples.append(Example(src, ids, 1, self._text_of(text), self.decode([ids], True)[0]))
        return examples

    def _generate_rows(
        self, sources: list[list[int]], prefix: list[int] | None, generation_args: dict[str, Any]
    ) -> list[list[int]]:
        enc = self._pad_encoding(sources, False, False)
        kwargs = dict(generation_args)
        if prefix is not None:
            kwargs["decoder_input_ids"] = torch.tensor([prefix], device=self.device)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=enc.input_ids.to(self.device), attention_mask=enc.attention_mask.to(self.device), **kwargs
            )
        if not isinstance(out, torch.Tensor):
            out = out.sequences
        return out.tolist()

    def generate(
        self,
        inputs: str | list[str],
        return_generation_output: bool = False,
        skip_special_tokens: bool | None = None,
        output_generated_only: bool = False,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Generate target texts for source texts.

        Example:
            >>> model.generate("Hello world", max_new_tokens=10)  # doctest: +SKIP
        """
        texts = check_texts("inputs", inputs)
        sources = fit_prompts(self, [self._tokenize(t, False, True) for t in texts], kwargs, name="inputs")
        examples = self._generate_examples(texts, sources, None, kwargs)
        skip = True if skip_special_tokens is None else skip_special_tokens
        return [self.decode([ex.target_ids], skip)[0] for ex in examples]

    # ------------------------------------------------------------------ batches and forward
    def build_batch(
        self,
        examples: list[Example],
        attr_pos_start: int | None,
        attr_pos_end: int | None,
        include_eos_baseline: bool,
    ) -> AttributionBatch:
        """Right-pad sources and targets of ``examples``."""
        src = self._pad_encoding([ex.source_ids for ex in examples], True, include_eos_baseline)
        tgt = self._pad_encoding([ex.target_ids for ex in examples], True, include_eos_baseline)
        # as inseq: the decoder start token stays in the target baseline (only real target tokens move to UNK)
        tgt.baseline_ids = self.baseline_ids(tgt.input_ids, include_eos_baseline, as_targets=True)
        positions = [resolve_positions(attr_pos_start, attr_pos_end, len(ex.target_ids), 1) for ex in examples]
        return EncoderDecoderBatch(
            target_ids=tgt.input_ids,
            target_mask=tgt.attention_mask,
            target_baseline_ids=tgt.baseline_ids,
            target_tokens=[self.tokens_with_ids(ex.target_ids) for ex in examples],
            attr_start=[p[0] for p in positions],
            attr_end=[p[1] for p in positions],
            source_ids=src.input_ids,
            source_mask=src.attention_mask,
            source_baseline_ids=src.baseline_ids,
            source_tokens=[self.tokens_with_ids(ex.source_ids) for ex in examples],
        ).to(self.device)

    def encode_source(
        self, embeds: torch.Tensor | None = None, ids: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> BaseModelOutput:
        """Run the encoder on source embeddings (or ids)."""
        inputs = {"inputs_embeds": embeds} if embeds is not None else {"input_ids": ids}
        out = self.model.get_encoder()(**inputs, attention_mask=mask, return_dict=True)
        return BaseModelOutput(last_hidden_state=out.last_hidden_state)

    def forward_logits(
        self,
        target_embeds: torch.Tensor | None,
        target_ids: torch.Tensor | None,
        target_mask: torch.Tensor,
        encoder_outputs: Any = None,
        source_mask: torch.Tensor | None = None,
        logits_from: int = 0,
        logits_at: tuple[torch.Tensor, torch.Tensor] | None = None,
        past_key_values: Any = None,
        keep_cache: bool = False,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Decoder logits of columns ``logits_from`` onwards ``(rows, len - logits_from, vocab)``, or at the
        ``logits_at`` ``(row, column)`` pairs ``(pairs, vocab)`` (the decoder's key-value cache as for decoder-only
        models; ``position_ids`` are for decoder-only models: an error when given)."""
        if position_ids is not None:
            raise ValueError("position_ids are for decoder-only models; encoder-decoder rows start at position 0.")
        inputs = (
            {"decoder_inputs_embeds": target_embeds}
            if target_embeds is not None
            else {"decoder_input_ids": target_ids}
        )
        length = (target_embeds if target_embeds is not None else target_ids).shape[1]
        if past_key_values is not None:
            inputs["past_key_values"] = past_key_values
        return self._forward_with_head(
            length,
            logits_from,
            logits_at,
            keep_cache,
            encoder_outputs=encoder_outputs,
            attention_mask=source_mask,
            decoder_attention_mask=target_mask,
            **inputs,
        )

    def _full_forward(self, batch: AttributionBatch, length: int, **kwargs: Any) -> Any:
        return self.model(
            input_ids=batch.source_ids,
            attention_mask=batch.source_mask,
            decoder_input_ids=batch.target_ids[:, :length],
            decoder_attention_mask=batch.target_mask[:, :length],
            use_cache=False,
            **kwargs,
        )

    def attention_maps(self, batch: AttributionBatch, length: int, rows: torch.Tensor | None = None) -> AttentionMaps:
        """Decoder self-, cross- and encoder self-attention weights of a clean forward; the decoder's of the query
        ``rows`` only (None: all) where the model dispatches through transformers' attention interface, else eager."""
        hf = self.model
        run = lambda: self._full_forward(batch, length, output_attentions=True)  # noqa: E731
        fields = ("decoder_attentions", "cross_attentions", "encoder_attentions")
        out, held = attention_forward(hf, run, rows, self.get_decoder(), length, fields)
        return AttentionMaps(
            decoder_self=stack_attentions(
                require_output(out.decoder_attentions, hf, "decoder self-attention weights")
            ),
            cross=stack_attentions(require_output(out.cross_attentions, hf, "cross-attention weights")),
            encoder_self=stack_attentions(
                require_output(out.encoder_attentions, hf, "encoder self-attention weights")
            ),
            rows=held,
        )

    def structure(self) -> ModelStructure:
        """Decoder and encoder layers with their self- and cross-attention sites."""
        hf = self.model
        config = get_model_config(type(hf).__name__)
        dec = find_layers(self.get_decoder(), hf, "decoder")
        enc = find_layers(self.get_encoder(), hf, "encoder")
        return ModelStructure(
            decoder_layers=dec,
            encoder_layers=enc,
            decoder_self=attention_sites(dec, hf, "self", config),
            cross=attention_sites(dec, hf, "cross", config),
            encoder_self=attention_sites(enc, hf, "self", config),
        )

    def clean_forward(self, batch: AttributionBatch, length: int) -> None:
        """A no-grad forward over the source and the first ``length`` target tokens."""
        with torch.no_grad():
            self._full_forward(batch, length)

    def get_input_embeddings(self) -> torch.nn.Module:
        """The module embedding the source: the encoder's own (the default layer of ``layer_*`` methods).

        Some models (BART and T5 in recent transformers) give the encoder an embedding module of its own that only
        shares the weight of the model's input embeddings, so hooks on the latter never see the source.
        """
        return self.model.get_encoder().get_input_embeddings()

    def get_encoder(self) -> torch.nn.Module:
        """The encoder module."""
        return self.model.get_encoder()

    def get_decoder(self) -> torch.nn.Module:
        """The decoder module."""
        return self.model.get_decoder()

"""Decoder-only models (GPT-2, Llama, Qwen, ...): the prompt is the prefix of the attributed target sequence."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForCausalLM

from ..attr.port import AttentionMaps, ModelStructure
from ..data.batch import AttributionBatch, DecoderOnlyBatch, Example
from ..utils.checks import check_texts
from .attention_rows import attention_forward
from .huggingface_model import HuggingfaceModel
from .limits import check_target_length, fit_prompts
from .model_config import get_model_config
from .positions import resolve_positions
from .structure import attention_sites, find_layers, require_output, stack_attentions


class HuggingfaceDecoderOnlyModel(HuggingfaceModel):
    """A decoder-only HuggingFace model (loaded with ``AutoModelForCausalLM``)."""

    _autoclass = AutoModelForCausalLM

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.pad_token_id is None and self.bos_token_id is not None:
            self.pad_token_id = self.bos_token_id
        self.tokenizer.padding_side = "left"
        self.tokenizer.truncation_side = "left"

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
        """Tokenise prompts, then generate continuations or check the forced targets at token level."""
        add_special = not skip_special_tokens
        prompts = [self._prompt_ids(t, add_special) for t in input_texts]
        gen_args = generation_args if generated_texts is None else None
        prompts = fit_prompts(self, prompts, gen_args, truncate_inputs and generated_texts is None)
        if generated_texts is None:
            return self._generate_examples(input_texts, prompts, generation_args)
        examples = []
        for i, (text, prompt, target) in enumerate(zip(input_texts, prompts, generated_texts)):
            full = self._encode_one(target, False, add_special, True) if target else list(prompt)
            check_target_length(self, full, i)
            if full[: len(prompt)] != prompt:
                raise ValueError(self._mismatch_message(i, prompt, full))
            examples.append(Example(None, full, len(prompt), self._text_of(text), self._text_of(target)))
        return examples

    def contrast_examples(
        self, examples: list[Example], sources: list[str] | None, targets: list[str] | None, skip_special_tokens: bool
    ) -> list[Example]:
        """Examples of the contrastive side: each contrast target is a whole sequence (prompt included)."""
        out = []
        for i, ex in enumerate(examples):
            ids = (
                ex.target_ids
                if targets is None
                else self._encode_one(targets[i], False, not skip_special_tokens, True)
            )
            if len(ids) < 2:
                raise ValueError(f"contrast_targets[{i}] must have at least 2 tokens, got {len(ids)}.")
            out.append(Example(None, ids, 1, ex.input_text, targets[i] if targets else ex.generated_text))
        return out

    def example_of(self, sequence: Any) -> Example:
        """The example an attribution sequence output describes, from its token ids (the prompt is its source).

        Example:
            >>> model.example_of(out[0]).source_ids is None  # doctest: +SKIP
            True
        """
        ids = [t.id for t in sequence.target]
        return Example(None, ids, len(sequence.source), "", "")

    def response_example(
        self, prompt_ids: list[int], response: str | list[int] | None, generation_args: dict[str, Any]
    ) -> Example:
        """The example of a prompt (token ids) and its response: generated when None, else forced.

        A response string that tokenizes as a continuation of the prompt keeps those tokens; otherwise it is
        tokenized alone and appended. A trailing EOS is not part of the response.

        Example:
            >>> ex = model.response_example(model.encode(["Hi"]).input_ids[0].tolist(), " there", {})  # doctest: +SKIP
            >>> ex.target_ids[ex.prompt_length:]  # doctest: +SKIP
        """
        if response is None:
            ids = self._generate_examples(
                [prompt_ids], fit_prompts(self, [prompt_ids], generation_args), generation_args
            )[0].target_ids
        elif isinstance(response, str):
            text = self.tokenizer.decode(prompt_ids, skip_special_tokens=False) + response
            ids = self._encode_one(text, False, False, True)
            if ids[: len(prompt_ids)] != prompt_ids:
                ids = prompt_ids + self._encode_one(response, False, False, False)
        else:
            ids = list(prompt_ids) + list(response)
        if len(ids) > len(prompt_ids) + 1 and ids[-1] == self.eos_token_id:
            ids = ids[:-1]
        check_target_length(self, ids, 0)
        return Example(
            None, ids, len(prompt_ids), "", self.tokenizer.decode(ids[len(prompt_ids) :], skip_special_tokens=True)
        )

    def with_input(self, example: Example, input_ids: list[int]) -> Example:
        """The same response after another prompt (token ids).

        Example:
            >>> model.with_input(ex, [5, 6]).target_ids[:2]  # doctest: +SKIP
            [5, 6]
        """
        response = example.target_ids[example.prompt_length :]
        return Example(None, list(input_ids) + response, len(input_ids), "", example.generated_text)

    def _prompt_ids(self, text: str, add_special_tokens: bool) -> list[int]:
        if not text:
            if self.bos_token_id is None:
                raise ValueError("An empty prompt needs a BOS token, but this tokenizer has none.")
            return [self.bos_token_id]
        return self._encode_one(text, False, add_special_tokens, True)

    def _mismatch_message(self, index: int, prompt: list[int], full: list[int]) -> str:
        pos = next((j for j, (a, b) in enumerate(zip(prompt, full)) if a != b), min(len(prompt), len(full)))
        p_tok = self.tokenizer.convert_ids_to_tokens(prompt[pos : pos + 1])
        f_tok = self.tokenizer.convert_ids_to_tokens(full[pos : pos + 1])
        return (
            f"generated_texts[{index}] does not continue input_texts[{index}] at token level: at token {pos} the "
            f"prompt has {p_tok} but the generated text has {f_tok}. For decoder-only models each generated text "
            "must start with its prompt's tokens (e.g. prompt + continuation)."
        )

    def _generate_examples(
        self, input_texts: list[str], prompts: list[list[int]], generation_args: dict[str, Any]
    ) -> list[Example]:
        enc = self._pad_encoding(prompts, False, False, left=True)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=enc.input_ids.to(self.device),
                attention_mask=enc.attention_mask.to(self.device),
                pad_token_id=self.pad_token_id,
                **generation_args,
            )
        if not isinstance(out, torch.Tensor):
            out = out.sequences
        skip = len(prompts) > 1
        examples = []
        special = set(self.special_tokens_ids)
        for text, prompt, row in zip(input_texts, prompts, out.tolist()):
            generated = self._trim_generated(row[enc.input_ids.shape[1] :])
            if skip:
                generated = [t for t in generated if t not in special]
            full = prompt + generated
            examples.append(Example(None, full, len(prompt), self._text_of(text), self.decode([full], skip)[0]))
        return examples

    def _trim_generated(self, ids: list[int]) -> list[int]:
        """Generated ids up to and including the first EOS (the rest is padding)."""
        if self.eos_token_id in ids:
            return ids[: ids.index(self.eos_token_id) + 1]
        return ids

    def generate(
        self,
        inputs: str | list[str],
        return_generation_output: bool = False,
        skip_special_tokens: bool | None = None,
        output_generated_only: bool = False,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Generate continuations of prompts (with their attention mask, unlike inseq 0.7).

        Example:
            >>> model.generate("Hello", max_new_tokens=5)  # doctest: +SKIP
        """
        texts = check_texts("inputs", inputs)
        prompts = fit_prompts(self, [self._prompt_ids(t, True) for t in texts], kwargs, name="inputs")
        examples = self._generate_examples(texts, prompts, kwargs)
        skip = skip_special_tokens if skip_special_tokens is not None else len(texts) > 1
        ids = [ex.target_ids[ex.prompt_length :] if output_generated_only else ex.target_ids for ex in examples]
        return [self.decode([seq], skip)[0] for seq in ids]

    # ------------------------------------------------------------------ batches and forward
    def build_batch(
        self,
        examples: list[Example],
        attr_pos_start: int | None,
        attr_pos_end: int | None,
        include_eos_baseline: bool,
    ) -> AttributionBatch:
        """Right-pad the full sequences (prompt + generation) of ``examples``."""
        enc = self._pad_encoding([ex.target_ids for ex in examples], True, include_eos_baseline)
        starts, ends = [], []
        for ex in examples:
            start, end = resolve_positions(attr_pos_start, attr_pos_end, len(ex.target_ids), ex.prompt_length)
            starts.append(start)
            ends.append(end)
        tokens = [self.tokens_with_ids(ex.target_ids) for ex in examples]
        return DecoderOnlyBatch(
            target_ids=enc.input_ids,
            target_mask=enc.attention_mask,
            target_baseline_ids=enc.baseline_ids,
            target_tokens=tokens,
            attr_start=starts,
            attr_end=ends,
            source_tokens=[tok[: ex.prompt_length] for tok, ex in zip(tokens, examples)],
            prompt_lengths=[ex.prompt_length for ex in examples],
        ).to(self.device)

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
        """Logits of columns ``logits_from`` onwards ``(rows, len - logits_from, vocab)``, or at the ``logits_at``
        ``(row, column)`` pairs ``(pairs, vocab)``; after the rows' prefixes' ``past_key_values`` (their key-value
        cache; ``target_mask`` then covers the prefix too), at ``position_ids`` when given, and with this forward's
        cache when ``keep_cache``."""
        inputs = {"inputs_embeds": target_embeds} if target_embeds is not None else {"input_ids": target_ids}
        length = (target_embeds if target_embeds is not None else target_ids).shape[1]
        if past_key_values is not None:
            inputs["past_key_values"] = past_key_values
        if position_ids is not None:
            inputs["position_ids"] = position_ids
        return self._forward_with_head(
            length, logits_from, logits_at, keep_cache, attention_mask=target_mask, **inputs
        )

    def encode_source(self, embeds: Any = None, ids: Any = None, mask: Any = None) -> None:
        """Decoder-only models have no encoder: there is nothing to encode (returns None)."""
        return None

    def attention_maps(self, batch: AttributionBatch, length: int, rows: torch.Tensor | None = None) -> AttentionMaps:
        """Self-attention weights of a clean forward over the first ``length`` tokens, of the query ``rows`` only
        (None: all) where the model dispatches through transformers' attention interface, else eager."""
        ids, mask = batch.target_ids[:, :length], batch.target_mask[:, :length]
        keep = {"logits_to_keep": 1} if self._supports_logits_to_keep else {}  # the logits are not read

        def run() -> Any:
            return self.model(input_ids=ids, attention_mask=mask, output_attentions=True, use_cache=False, **keep)

        out, held = attention_forward(self.model, run, rows, self.model, length, ("attentions",))
        weights = stack_attentions(require_output(out.attentions, self.model, "self-attention weights"))
        return AttentionMaps(weights, rows=held)

    def structure(self) -> ModelStructure:
        """The model's layers and their self-attention sites."""
        config = get_model_config(type(self.model).__name__)
        layers = find_layers(self.model, self.model, "decoder")
        return ModelStructure(layers, [], attention_sites(layers, self.model, "self", config), [], [])

    def clean_forward(self, batch: AttributionBatch, length: int) -> None:
        """A no-grad forward over the first ``length`` tokens (its logits are not read: only the last position's are
        computed where the model takes ``logits_to_keep``)."""
        kwargs = {"logits_to_keep": 1} if self._supports_logits_to_keep else {}
        with torch.no_grad():
            self.model(
                input_ids=batch.target_ids[:, :length],
                attention_mask=batch.target_mask[:, :length],
                use_cache=False,
                **kwargs,
            )

    def get_encoder(self) -> None:
        """Decoder-only models have no encoder."""
        raise NotImplementedError("Decoder-only models have no encoder.")

    def get_decoder(self) -> torch.nn.Module:
        """The whole model."""
        return self.model

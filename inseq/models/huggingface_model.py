"""HuggingFace transformers models: loading, tokenisation, generation and the forward passes the engine runs."""

from __future__ import annotations

import inspect
import logging
import warnings
from contextlib import AbstractContextManager
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ..data.batch import BatchEncoding
from ..utils.checks import check_texts
from ..utils.import_utils import is_accelerate_available
from ..utils.typing import TokenWithId
from .attribution_model import AttributionModel
from .loading import FROM_PRETRAINED_KWARGS, check_tokenizer, loader_errors
from .structure import eager_attention, head_inputs

logger = logging.getLogger(__name__)


def split_from_pretrained_kwargs(
    model_kwargs: dict[str, Any] | None, kwargs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Move ``from_pretrained`` keywords given to ``load_model`` into ``model_kwargs``; the rest go to the method.

    Raises:
        ValueError: if a keyword is given both directly and in ``model_kwargs`` with different values.

    Example:
        >>> split_from_pretrained_kwargs({}, {"dtype": "float16", "target_layer": "x"})
        ({'dtype': 'float16'}, {'target_layer': 'x'})
    """
    merged = dict(model_kwargs or {})
    rest = {}
    for key, value in kwargs.items():
        if key not in FROM_PRETRAINED_KWARGS:
            rest[key] = value
            continue
        if key in merged and merged[key] is not value and merged[key] != value:
            raise ValueError(f"{key!r} is given twice, as {value!r} and in model_kwargs as {merged[key]!r}.")
        merged[key] = value
    return merged, rest


class HuggingfaceModel(AttributionModel):
    """An :class:`AttributionModel` wrapping a HuggingFace transformers model and its tokenizer.

    Use :func:`inseq.load_model` rather than this class directly: it picks the decoder-only or encoder-decoder
    subclass from the model's configuration.
    """

    _autoclass: type = AutoModelForCausalLM

    def __init__(
        self,
        model: str | PreTrainedModel,
        attribution_method: str | None = None,
        tokenizer: str | PreTrainedTokenizerBase | None = None,
        device: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        model_kwargs, kwargs = split_from_pretrained_kwargs(model_kwargs, kwargs)
        tokenizer_kwargs = dict(tokenizer_kwargs or {})
        self.model = self._load_model(model, model_kwargs)
        self.torch_module: torch.nn.Module = self.model  # the port's handle on the module (hooks, freezing)
        self.model_name = self.model.config.name_or_path
        self.tokenizer_name = tokenizer if isinstance(tokenizer, str) else None
        if tokenizer is None:
            tokenizer = self.model_name
            if not tokenizer:
                raise ValueError("The model has no name or path to load its tokenizer from: pass `tokenizer=`.")
        if isinstance(tokenizer, str):
            with loader_errors("tokenizer", tokenizer):
                tokenizer = AutoTokenizer.from_pretrained(tokenizer, **tokenizer_kwargs)
        check_tokenizer(self.model, tokenizer, self.tokenizer_name or self.model_name)
        self.tokenizer: PreTrainedTokenizerBase = tokenizer
        self._setup_special_tokens()
        self.is_encoder_decoder = bool(self.model.config.is_encoder_decoder)
        self.device_map = getattr(self.model, "hf_device_map", None)
        if self.device_map is not None and device is None:
            device = str(self.model.get_input_embeddings().weight.device)
        forward_params = inspect.signature(self.model.forward).parameters
        self._supports_logits_to_keep = "logits_to_keep" in forward_params
        self._cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"  # renamed in transformers 5
        self.setup(device, attribution_method, **kwargs)
        self.embed_scale = self._probe_embed_scale()

    # ------------------------------------------------------------------ loading
    def _load_model(self, model: str | PreTrainedModel, model_kwargs: dict[str, Any]) -> PreTrainedModel:
        if isinstance(model, PreTrainedModel):
            if model_kwargs:
                warnings.warn(
                    f"The model is already loaded: the loading options {sorted(model_kwargs)} are ignored (pass a "
                    "model id or a folder to load it with them).",
                    stacklevel=4,
                )
            return model
        if not isinstance(model, str):
            raise TypeError(f"`model` must be a model id, a folder path or a PreTrainedModel, got {type(model)}.")
        if model_kwargs.get("device_map") is not None and not is_accelerate_available():
            raise ImportError(
                f"device_map={model_kwargs['device_map']!r} needs the `accelerate` package: "
                "pip install 'inseq[accelerate]' (or pip install accelerate)."
            )
        with loader_errors("model", model):
            return self._autoclass.from_pretrained(model, **model_kwargs)

    @staticmethod
    def load(
        model: str | PreTrainedModel,
        attribution_method: str | None = None,
        tokenizer: str | PreTrainedTokenizerBase | None = None,
        device: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> HuggingfaceModel:
        """Load a model, choosing the decoder-only or encoder-decoder class from its configuration."""
        model_kwargs, kwargs = split_from_pretrained_kwargs(model_kwargs, kwargs)
        if isinstance(model, PreTrainedModel):
            is_enc_dec = model.config.is_encoder_decoder
        elif isinstance(model, str):
            config_kwargs = {k: v for k, v in model_kwargs.items() if k in ("revision", "token", "trust_remote_code")}
            with loader_errors("model configuration", model):
                is_enc_dec = AutoConfig.from_pretrained(model, **config_kwargs).is_encoder_decoder
        else:
            raise TypeError(f"`model` must be a model id, a folder path or a PreTrainedModel, got {type(model)}.")
        from .decoder_only import HuggingfaceDecoderOnlyModel
        from .encoder_decoder import HuggingfaceEncoderDecoderModel

        cls = HuggingfaceEncoderDecoderModel if is_enc_dec else HuggingfaceDecoderOnlyModel
        return cls(model, attribution_method, tokenizer, device, model_kwargs, tokenizer_kwargs, **kwargs)

    def _setup_special_tokens(self) -> None:
        config, tok = self.model.config, self.tokenizer
        eos = config.eos_token_id if config.eos_token_id is not None else tok.eos_token_id
        self.eos_token_id = eos[0] if isinstance(eos, list) else eos
        pad = config.pad_token_id if config.pad_token_id is not None else tok.pad_token_id
        if pad is None:
            pad = self.eos_token_id
        if isinstance(pad, list):
            pad = pad[0]
        self.pad_token_id = pad
        if tok.pad_token is None and pad is not None:
            tok.pad_token = tok.convert_ids_to_tokens(pad)
        if getattr(config, "pad_token_id", None) is None and pad is not None:
            config.pad_token_id = pad
        self.pad_token = tok.pad_token
        start = getattr(config, "decoder_start_token_id", None)
        self.bos_token_id = start if start is not None else config.bos_token_id
        if self.bos_token_id is None:
            self.bos_token_id = tok.bos_token_id
        self.bos_token = tok.convert_ids_to_tokens(self.bos_token_id) if self.bos_token_id is not None else None
        if self.eos_token_id is None:
            self.eos_token_id = self.pad_token_id
        self.unk_token_id = tok.unk_token_id if tok.unk_token_id is not None else self.pad_token_id

    def _probe_embed_scale(self) -> float:
        """Find the factor between the embedding module's output and what the model feeds its first layer.

        Some models (Marian, M2M100, ...) multiply the embeddings by a scale only when given ids. Feeding
        ``inputs_embeds`` must reproduce the ids path, so the scale is found numerically instead of from a table.
        """
        candidates = [1.0]
        for module in self.model.modules():
            scale = getattr(module, "embed_scale", None)
            if isinstance(scale, int | float) and scale not in candidates:
                candidates.append(float(scale))
            elif isinstance(scale, torch.Tensor) and scale.numel() == 1 and float(scale) not in candidates:
                candidates.append(float(scale))
        if len(candidates) == 1:
            return 1.0
        ids = torch.tensor([[self.unk_token_id, self.eos_token_id or 0, self.pad_token_id or 0]], device=self.device)
        encoder = self.model.get_encoder() if self.is_encoder_decoder else self.model.base_model
        with torch.no_grad():
            reference = encoder(input_ids=ids).last_hidden_state
            embeds = self.model.get_input_embeddings()(ids)
            for scale in candidates:
                if torch.allclose(encoder(inputs_embeds=embeds * scale).last_hidden_state, reference, atol=1e-5):
                    return scale
        logger.warning("Could not determine the embedding scale of %s; assuming 1.0.", type(self.model).__name__)
        return 1.0

    # ------------------------------------------------------------------ properties
    @property
    def info(self) -> dict[str, str | None]:
        """Model and tokenizer names and classes, stored in every attribution output."""
        return {
            "model_name": self.model_name,
            "model_class": type(self.model).__name__,
            "tokenizer_name": self.tokenizer_name,
            "tokenizer_class": type(self.tokenizer).__name__,
        }

    @property
    def special_tokens(self) -> list[str]:
        """All special tokens of the tokenizer."""
        return self.tokenizer.all_special_tokens

    @property
    def special_tokens_ids(self) -> list[int]:
        """Ids of all special tokens of the tokenizer."""
        return self.tokenizer.all_special_ids

    @property
    def vocabulary_embeddings(self) -> torch.Tensor:
        """The input embedding matrix."""
        return self.model.get_input_embeddings().weight

    def _move_model(self, device: str) -> None:
        if (
            self.device_map is not None
            or getattr(self.model, "is_loaded_in_8bit", False)
            or getattr(self.model, "is_loaded_in_4bit", False)
        ):
            if str(self.model.get_input_embeddings().weight.device) != str(device):
                logger.warning("The model is quantized or spread over devices: it is not moved to %s.", device)
            return
        self.model.to(device)

    # ------------------------------------------------------------------ tokenisation
    def encode(
        self,
        texts: str | list[str],
        as_targets: bool = False,
        return_baseline: bool = False,
        include_eos_baseline: bool = False,
        add_bos_token: bool = True,
        add_special_tokens: bool = True,
    ) -> BatchEncoding:
        """Tokenise texts into a padded batch (with baseline ids if asked).

        Example:
            >>> enc = model.encode(["Hello world"], return_baseline=True)  # doctest: +SKIP
            >>> enc.input_ids.shape, enc.baseline_ids.shape  # doctest: +SKIP
        """
        texts = check_texts("texts", texts)
        ids_list = [self._encode_one(t, as_targets, add_special_tokens, add_bos_token) for t in texts]
        if as_targets and self.is_encoder_decoder and add_bos_token:
            # as inseq: encoder-decoder targets start with the decoder start token, kept in the baseline too
            ids_list = [[self.bos_token_id, *ids] for ids in ids_list]
            encoding = self._pad_encoding(ids_list, return_baseline, include_eos_baseline)
            if encoding.baseline_ids is not None:
                encoding.baseline_ids = self.baseline_ids(encoding.input_ids, include_eos_baseline, as_targets=True)
            return encoding
        return self._pad_encoding(ids_list, return_baseline, include_eos_baseline)

    def _encode_one(
        self, text: str | list[int], as_targets: bool, add_special_tokens: bool, add_bos_token: bool
    ) -> list[int]:
        ids = self._tokenize(text, as_targets, add_special_tokens)
        if isinstance(text, list):
            return ids
        if len(ids) > 1 and self.bos_token_id is not None and ids[0] == ids[1] == self.bos_token_id:
            ids = ids[1:]  # a chat template already wrote the BOS token the tokenizer adds again
        if not add_bos_token and ids and ids[0] == self.bos_token_id:
            ids = ids[1:]
        return ids

    def _tokenize(self, text: str | list[int], as_targets: bool, add_special_tokens: bool) -> list[int]:
        if isinstance(text, list):  # token ids are used as given, special tokens included
            return list(text)
        return self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]

    def format_chat(self, messages: Any, add_generation_prompt: bool = True) -> str:
        """A conversation (a list of ``{"role", "content"}`` dicts) as text, formatted with the tokenizer's chat
        template.

        Raises:
            InvalidArgumentError: when the tokenizer has no chat template, or a message is malformed.

        Example:
            >>> prompt = model.format_chat([{"role": "user", "content": "Hi"}])  # doctest: +SKIP
        """
        from ..utils.errors import InvalidArgumentError

        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise InvalidArgumentError(
                    f"Message {i} of the conversation must be a dict with 'role' and 'content' strings, got {message!r}."
                )
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise InvalidArgumentError(
                f"The tokenizer of {self.tokenizer_name or self.model_name!r} has no chat template, so a conversation "
                "cannot be formatted: set `model.tokenizer.chat_template` (a Jinja template) or pass the text itself."
            )
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def _text_of(self, text: str | list[int]) -> str:
        """The text of an input given as text or as token ids (decoded with its special tokens)."""
        return text if isinstance(text, str) else self.tokenizer.decode(text, skip_special_tokens=False)

    def _pad_encoding(
        self, ids_list: list[list[int]], return_baseline: bool, include_eos_baseline: bool, left: bool = False
    ) -> BatchEncoding:
        length = max(len(ids) for ids in ids_list)
        pad = self.pad_token_id if self.pad_token_id is not None else 0
        ids = torch.full((len(ids_list), length), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, seq in enumerate(ids_list):
            sl = slice(length - len(seq), length) if left else slice(0, len(seq))
            ids[i, sl] = torch.tensor(seq, dtype=torch.long)
            mask[i, sl] = 1
        tokens = [self.tokenizer.convert_ids_to_tokens(seq) for seq in ids_list]
        baseline = self.baseline_ids(ids, include_eos_baseline) if return_baseline else None
        return BatchEncoding(ids, mask, tokens, baseline)

    def baseline_ids(
        self, ids: torch.Tensor, include_eos_baseline: bool = False, as_targets: bool = False
    ) -> torch.Tensor:
        """UNK ids of the same shape as ``ids``; EOS positions keep EOS unless ``include_eos_baseline``.

        With ``as_targets`` on an encoder-decoder model, column 0 (the decoder start token) keeps its id, as in
        inseq: the decoder start is not a token of the target text and is never perturbed.
        """
        baseline = torch.full_like(ids, self.unk_token_id)
        if not include_eos_baseline and self.eos_token_id is not None:
            baseline = torch.where(ids == self.eos_token_id, ids, baseline)
        if as_targets and self.is_encoder_decoder and ids.shape[-1] > 0:
            baseline[..., 0] = ids[..., 0]
        return baseline

    def decode(self, ids: torch.Tensor | list, skip_special_tokens: bool = True) -> list[str]:
        """Decode ids (one or more sequences) to strings."""
        if isinstance(ids, torch.Tensor) and ids.ndim == 1:
            ids = ids.unsqueeze(0)
        return self.tokenizer.batch_decode(
            ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False
        )

    def embed_ids(self, ids: torch.Tensor, as_targets: bool = False) -> torch.Tensor:
        """Input embeddings of ``ids`` exactly as the model's first layer sees them."""
        embeds = self.model.get_input_embeddings()(ids.to(self.device))
        return embeds * self.embed_scale if self.embed_scale != 1.0 else embeds

    def embed(self, inputs: str | list[str] | torch.Tensor, as_targets: bool = False, add_special_tokens: bool = True):
        """Embed texts or ids."""
        if isinstance(inputs, str | list):
            inputs = self.encode(inputs, as_targets=as_targets, add_special_tokens=add_special_tokens).input_ids
        return self.embed_ids(inputs, as_targets=as_targets)

    def convert_ids_to_tokens(
        self, ids: torch.Tensor | list, skip_special_tokens: bool = True, decode_tokens: bool = False
    ) -> list:
        """Token strings of ids (1-D or 2-D); ``decode_tokens`` decodes each id for readable byte-level tokens."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        if ids and isinstance(ids[0], list):
            return [self.convert_ids_to_tokens(seq, skip_special_tokens, decode_tokens) for seq in ids]
        if skip_special_tokens:
            ids = [i for i in ids if i not in set(self.special_tokens_ids)]
        if decode_tokens:
            return [self.tokenizer.decode([i]) for i in ids]
        return self.tokenizer.convert_ids_to_tokens(ids)

    def convert_tokens_to_ids(self, tokens: list) -> list:
        """Ids of token strings (nested lists handled)."""
        if tokens and isinstance(tokens[0], list):
            return [self.convert_tokens_to_ids(t) for t in tokens]
        return self.tokenizer.convert_tokens_to_ids(tokens)

    def convert_tokens_to_string(self, tokens: list, skip_special_tokens: bool = True, as_targets: bool = False):
        """Join tokens into text (nested lists handled)."""
        if tokens and isinstance(tokens[0], list):
            return [self.convert_tokens_to_string(t, skip_special_tokens, as_targets) for t in tokens]
        tokens = [str(t) for t in tokens]
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in set(self.special_tokens)]
        return self.tokenizer.convert_tokens_to_string(tokens) if tokens else ""

    def convert_string_to_tokens(self, text: str | list[str], skip_special_tokens: bool = True, as_targets=False):
        """Token strings of a text (or of each text of a list)."""
        if isinstance(text, list):
            return [self.convert_string_to_tokens(t, skip_special_tokens, as_targets) for t in text]
        ids = self._tokenize(text, as_targets, add_special_tokens=not skip_special_tokens)
        return self.tokenizer.convert_ids_to_tokens(ids)

    def clean_tokens(self, tokens: list, skip_special_tokens: bool = False, as_targets: bool = False) -> list:
        """Readable forms of tokens (``▁Hello`` -> ``Hello``, byte-level markers removed); ids are kept."""
        if tokens and isinstance(tokens[0], list):
            return [self.clean_tokens(t, skip_special_tokens, as_targets) for t in tokens]
        cleaned = []
        for tok in tokens:
            text = str(tok)
            if skip_special_tokens and text in set(self.special_tokens):
                continue
            clean = " → ".join(self._clean_token(part) for part in text.split(" → "))
            cleaned.append(TokenWithId(clean, tok.id) if isinstance(tok, TokenWithId) else clean)
        return cleaned

    def _clean_token(self, token: str) -> str:
        if token in set(self.special_tokens):
            return token
        return self.tokenizer.convert_tokens_to_string([token])

    def tokens_with_ids(self, ids: list[int]) -> list[TokenWithId]:
        """:class:`TokenWithId` list for a sequence of ids."""
        return [TokenWithId(t, i) for t, i in zip(self.tokenizer.convert_ids_to_tokens(ids), ids)]

    # ------------------------------------------------------------------ port: internals
    def get_input_embeddings(self) -> torch.nn.Module:
        """The input embedding module."""
        return self.model.get_input_embeddings()

    def get_submodule(self, name: str) -> torch.nn.Module:
        """A submodule by dotted name, with an error listing where to look when it does not exist."""
        try:
            return self.model.get_submodule(name)
        except AttributeError as err:
            raise ValueError(
                f"{type(self.model).__name__} has no submodule {name!r}; see `model.model.named_modules()` for names."
            ) from err

    def eager_attention(self) -> AbstractContextManager[None]:
        """Run the model with eager attention for a block (weights available), restoring its setting after."""
        return eager_attention(self.model)

    @staticmethod
    def output2logits(forward_output: Any) -> torch.Tensor:
        """Logits of the last position of a forward output: ``(batch, vocab)``."""
        return forward_output.logits[:, -1, :]

    def _forward_with_head(
        self,
        length: int,
        logits_from: int,
        logits_at: tuple[torch.Tensor, torch.Tensor] | None,
        keep_cache: bool,
        **inputs: Any,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Run the model with logits computed only where they are read.

        ``logits_at`` pairs are gathered from the hidden states before the output head (a forward pre-hook on the
        head), so the head runs on those rows only, on any architecture; otherwise ``logits_to_keep`` (where the
        model takes it) or the same pre-hook keep columns ``logits_from`` onwards.
        """
        past = inputs.pop("past_key_values", None)
        kwargs: dict[str, Any] = {"use_cache": keep_cache or past is not None}
        if past is not None:
            kwargs[self._cache_kwarg] = past
        if logits_at is None and self._supports_logits_to_keep:
            kwargs["logits_to_keep"] = length - logits_from
            select = None
        elif logits_at is None:
            select = (slice(None), slice(logits_from, None))
        else:
            select = logits_at
        with head_inputs(self.model, select):
            out = self.model(**inputs, **kwargs)
        logits = out.logits
        if logits_at is not None:
            logits = logits.reshape(-1, logits.shape[-1])
        if not keep_cache:
            return logits
        return logits, getattr(out, "cache", None) or getattr(out, "past_key_values", None)

"""Toy models shipped with inseq, trained on synthetic tasks whose correct attribution is known.

The models are small enough to be part of the package (a few MB each) and load offline with the usual
``transformers`` auto classes. They are meant for demos, tutorials and faithfulness checks of attribution methods,
not as real language models. The tasks, their gold attributions and held-in evaluation sets are in
:mod:`inseq.examples.tasks`.

Available models:

* ``"toy-gpt2-ioi"``: a 2-layer GPT-2 (``AutoModelForCausalLM``) trained on indirect object identification
  (``"When Mary and John went to the store, John gave a drink to"`` -> ``" Mary."``), copying
  (``"Alice Bob Tom Anna. Alice Bob"`` -> ``" Tom Anna."``) and key-value retrieval
  (``"Pairs: Mary cup John hat Tom key. John"`` -> ``" hat."``).
* ``"toy-marian-translation"``: a 2+2-layer Marian encoder-decoder (``AutoModelForSeq2SeqLM``) translating between
  two made-up languages word by word with a reordering rule (``"ka blen brok dask ti fen."`` ->
  ``"lo tami amo na lona bakora."``).

Example:
    >>> from transformers import AutoModelForCausalLM, AutoTokenizer
    >>> from inseq.examples import get_example_model_path
    >>> path = get_example_model_path("toy-gpt2-ioi")
    >>> model = AutoModelForCausalLM.from_pretrained(path)
    >>> tokenizer = AutoTokenizer.from_pretrained(path)
    >>> inputs = tokenizer("When Mary and John went to the store, John gave a drink to", return_tensors="pt")
    >>> tokenizer.decode(model.generate(**inputs)[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)
    ' Mary.'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MODELS_DIR", "list_example_models", "get_example_model_path"]

#: Folder holding one sub-folder per toy model (``config.json``, ``model.safetensors``, tokenizer files, README).
MODELS_DIR: Path = Path(__file__).resolve().parent / "models"


def list_example_models() -> list[str]:
    """List the names of the toy models shipped with inseq.

    Returns:
        The sorted model names, each usable with :func:`get_example_model_path`.

    Example:
        >>> from inseq.examples import list_example_models
        >>> list_example_models()
        ['toy-gpt2-ioi', 'toy-marian-translation']
    """
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "config.json").is_file())


def get_example_model_path(name: str) -> Path:
    """Return the local folder of a toy model, to pass to ``from_pretrained`` (no network needed).

    Args:
        name: A name from :func:`list_example_models`, e.g. ``"toy-gpt2-ioi"``.

    Returns:
        The folder containing the model and its tokenizer.

    Raises:
        ValueError: If ``name`` is not one of the shipped toy models.

    Example:
        >>> from inseq.examples import get_example_model_path
        >>> (get_example_model_path("toy-marian-translation") / "config.json").is_file()
        True
        >>> get_example_model_path("gpt2")
        Traceback (most recent call last):
        ...
        ValueError: Unknown example model 'gpt2'. Valid names: 'toy-gpt2-ioi', 'toy-marian-translation'.
    """
    valid = list_example_models()
    if name not in valid:
        names = ", ".join(repr(n) for n in valid) or "none (the model files are missing from this installation)"
        raise ValueError(f"Unknown example model {name!r}. Valid names: {names}.")
    return MODELS_DIR / name

"""A small declarative argument layer: dataclass fields become ``argparse`` options.

Fields are declared with :func:`cli_arg`, whose metadata carries the option aliases, the help text and the allowed
choices. :class:`InseqArgumentParser` turns the fields of one or more dataclasses into options following these rules:

* ``bool`` fields take an optional value: ``--flag`` (True), ``--flag true/false/yes/no/1/0``; a field whose default
  is True also gets ``--no_<field>``.
* ``dict`` fields parse a JSON object (``--model_kwargs '{"revision": "main"}'``).
* ``list[X]`` fields take one or more values (``nargs="+"``), each converted to ``X``.
* ``Literal[...]`` fields (or ``choices=`` in the metadata, possibly a callable evaluated when the parser is built)
  restrict the values.
* ``X | None`` is unwrapped to ``X``.

Errors are printed on ONE line (``inseq attribute: error: argument --attribution_method/-a: invalid choice: ...``)
and exit with code 2, as argparse does.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Args:
    ...     name: str = cli_arg(default="x", aliases=["-n"], help="A name.")
    ...     flag: bool = cli_arg(default=True, help="A flag.")
    ...     values: list[int] | None = cli_arg(default=None, help="Some integers.")
    >>> parser = InseqArgumentParser(prog="demo")
    >>> parser.add_dataclass_arguments(Args)
    >>> parser.parse_args_into_dataclasses(["-n", "y", "--no_flag", "--values", "1", "2"])
    (Args(name='y', flag=False, values=[1, 2]),)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, NoReturn, TypeVar

from ..utils.options import cli_arg

__all__ = [
    "InseqArgumentParser",
    "LazyChoices",
    "cli_arg",
    "dataclass_from_kwargs",
    "json_dict",
    "namespace_to_dataclasses",
    "string_to_bool",
]

T = TypeVar("T")

_TRUE = {"true", "yes", "y", "1", "t", "on"}
_FALSE = {"false", "no", "n", "0", "f", "off"}


def string_to_bool(value: str | bool) -> bool:
    """Parse a command-line boolean.

    Example:
        >>> string_to_bool("yes"), string_to_bool("0")
        (True, False)
    """
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r} (use true/false, yes/no or 1/0)")


def json_dict(value: str) -> dict[str, Any]:
    """Parse a JSON object given on the command line.

    Example:
        >>> json_dict('{"max_new_tokens": 3}')
        {'max_new_tokens': 3}
    """
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"invalid JSON object {value!r} ({err.msg} at position {err.pos})") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"key\": 1}}', got {value!r}")
    return parsed


def _unwrap_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return args[0]  # first alternative wins (e.g. ``str | int | None`` -> str)
    return tp


def _typed(fn: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """Give a converter a readable ``__name__`` for argparse's "invalid <name> value" messages."""

    def convert(value: str) -> Any:
        return fn(value)

    convert.__name__ = name
    return convert


class LazyChoices(Sequence):
    """The choices of an option, computed on first use (``inseq --help`` then never pays for them).

    Example:
        >>> calls = []
        >>> choices = LazyChoices(lambda: calls.append(1) or ["a", "b"])
        >>> len(calls)
        0
        >>> "a" in choices, list(choices), len(calls)
        (True, ['a', 'b'], 1)
    """

    def __init__(self, compute: Callable[[], Any]) -> None:
        self._compute = compute
        self._values: list[Any] | None = None

    def _get(self) -> list[Any]:
        if self._values is None:
            self._values = list(self._compute())
        return self._values

    def __getitem__(self, index: Any) -> Any:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __contains__(self, value: object) -> bool:
        return value in self._get()


#: Default factories evaluated when the parser is built (cheap); any other factory runs when the dataclass is built.
_CHEAP_FACTORIES = (list, dict, set, tuple)


class OneLineHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help formatter showing defaults; kept as a class so sub-commands share it."""


class InseqArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that builds options from dataclasses and reports errors on one line.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Args:
        ...     method: str = cli_arg(default="a", choices=["a", "b"], help="Method.")
        >>> parser = InseqArgumentParser(prog="demo")
        >>> parser.add_dataclass_arguments(Args)
        >>> parser.parse_args_into_dataclasses(["--method", "b"])[0].method
        'b'
    """

    def __init__(self, *args: Any, dataclass_types: Sequence[type] = (), **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", OneLineHelpFormatter)
        super().__init__(*args, **kwargs)
        self.dataclass_types: list[type] = []
        for dtype in dataclass_types:
            self.add_dataclass_arguments(dtype)

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` on a single line of stderr and exit with code 2."""
        one_line = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {one_line} (see `{self.prog} --help`)\n")

    def add_dataclass_arguments(self, dtype: type) -> None:
        """Add one option per field of the dataclass ``dtype`` (in an argument group named after it)."""
        if not dataclasses.is_dataclass(dtype):
            raise TypeError(f"{dtype!r} is not a dataclass.")
        self.dataclass_types.append(dtype)
        hints = typing.get_type_hints(dtype)
        group = self.add_argument_group(dtype.__name__, (dtype.__doc__ or "").strip().split("\n")[0] or None)
        for field in dataclasses.fields(dtype):
            if not field.init:
                continue
            self._add_field(group, field, hints[field.name])

    def _add_field(self, group: argparse._ArgumentGroup, field: dataclasses.Field, hint: Any) -> None:
        meta = field.metadata
        names = [f"--{field.name}", *meta.get("aliases", [])]
        kwargs: dict[str, Any] = {"dest": field.name, "help": meta.get("help") or " "}
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        tp = _unwrap_optional(hint)
        origin = typing.get_origin(tp)
        choices = meta.get("choices")
        if callable(choices):
            choices = LazyChoices(choices)
        if origin is Literal:
            choices = list(typing.get_args(tp))
            tp = type(choices[0])
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory in _CHEAP_FACTORIES:
            default = field.default_factory()
        elif field.default_factory is not dataclasses.MISSING:
            default = argparse.SUPPRESS  # e.g. the default device: the dataclass computes it when built
        else:
            default = None
        kwargs["default"] = default
        if meta.get("required"):
            kwargs["required"] = True
        if tp is bool:
            kwargs.update(type=string_to_bool, nargs="?", const=True, metavar=kwargs.get("metavar", "{true,false}"))
            group.add_argument(*names, **kwargs)
            if default is True:
                group.add_argument(
                    f"--no_{field.name}", action="store_false", dest=field.name, help=f"Disable --{field.name}."
                )
            return
        if tp is dict or typing.get_origin(tp) is dict:
            kwargs.update(type=_typed(json_dict, "JSON"), metavar=kwargs.get("metavar", "JSON"))
        elif origin in (list, tuple, Sequence) or tp in (list, tuple):
            item = (typing.get_args(tp) or (str,))[0]
            item = _unwrap_optional(item)
            kwargs.update(nargs="+", type=item if item in (str, int, float) else str)
        elif tp in (int, float, str):
            kwargs["type"] = tp
        if choices is not None:
            kwargs["choices"] = choices if isinstance(choices, LazyChoices) else list(choices)
        group.add_argument(*names, **kwargs)

    def parse_args_into_dataclasses(self, args: Sequence[str] | None = None) -> tuple[Any, ...]:
        """Parse ``args`` (default: ``sys.argv[1:]``) and return one instance per registered dataclass."""
        namespace = self.parse_args(sys.argv[1:] if args is None else list(args))
        return namespace_to_dataclasses(namespace, self.dataclass_types)


def namespace_to_dataclasses(namespace: argparse.Namespace, dataclass_types: Sequence[type]) -> tuple[Any, ...]:
    """Split a parsed namespace into one instance per dataclass (each gets the fields it declares).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class A:
        ...     x: int = 1
        >>> namespace_to_dataclasses(argparse.Namespace(x=3, y=4), [A])
        (A(x=3),)
    """
    values = vars(namespace)
    outputs = []
    for dtype in dataclass_types:
        names = {f.name for f in dataclasses.fields(dtype) if f.init}
        outputs.append(dtype(**{k: v for k, v in values.items() if k in names}))
    return tuple(outputs)


def dataclass_from_kwargs(dtype: type[T], kwargs: dict[str, Any]) -> T:
    """Build ``dtype`` from keyword arguments, raising a clear ``TypeError`` for unknown names.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class A:
        ...     x: int = 1
        >>> dataclass_from_kwargs(A, {"x": 2})
        A(x=2)
    """
    names = {f.name for f in dataclasses.fields(dtype)}  # type: ignore[arg-type]
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise TypeError(f"Unknown argument(s) for {dtype.__name__}: {', '.join(unknown)}. Valid: {sorted(names)}.")
    return dtype(**kwargs)

"""Explicit, typed registries mapping string identifiers to objects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping from identifiers to registered objects.

    Example:
        >>> reg = Registry[int]("number")
        >>> reg.register("one", 1)
        >>> reg.get("one")
        1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, identifier: str, obj: T, overwrite: bool = False) -> None:
        """Register ``obj`` under ``identifier``; refuses to replace an entry unless ``overwrite`` is True."""
        if not isinstance(identifier, str) or not identifier:
            raise ValueError(f"A {self.kind} identifier must be a non-empty string, got {identifier!r}.")
        if identifier in self._items and not overwrite:
            raise ValueError(f"{self.kind.capitalize()} {identifier!r} is already registered. Use overwrite=True.")
        self._items[identifier] = obj

    def decorator(self, identifier: str) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""

        def wrap(obj: T) -> T:
            self.register(identifier, obj)
            return obj

        return wrap

    def get(self, identifier: str) -> T:
        """Return the object registered under ``identifier``, or raise a ``ValueError`` listing valid ids."""
        try:
            return self._items[identifier]
        except (KeyError, TypeError):
            raise ValueError(f"Unknown {self.kind} {identifier!r}. Available: {', '.join(self._items)}.") from None

    def __contains__(self, identifier: object) -> bool:
        try:
            return identifier in self._items
        except TypeError:  # unhashable: never an identifier
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        """Identifiers in registration order."""
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(identifier, object)`` pairs in registration order."""
        return list(self._items.items())


def available_classes(cls: type | Registry) -> list[str]:
    """Identifiers of what a registry holds, or the names of the concrete subclasses of a class (inseq 0.7 helper).

    For a class, its subclasses (recursively) that are not abstract are listed by their registered identifier when
    they declare one (``method_name``, ``aggregator_name``, ``aggregation_function_name``), else by class name.

    Example:
        >>> reg = Registry[int]("number")
        >>> reg.register("one", 1)
        >>> available_classes(reg)
        ['one']
    """
    import inspect

    if isinstance(cls, Registry):
        return cls.keys()
    found: list[str] = []
    stack = list(cls.__subclasses__())
    while stack:
        sub = stack.pop(0)
        stack.extend(sub.__subclasses__())
        if inspect.isabstract(sub):
            continue
        ident = next(
            (
                getattr(sub, a)
                for a in ("method_name", "aggregator_name", "aggregation_function_name")
                if a in vars(sub)
            ),
            sub.__name__,
        )
        if ident not in found:
            found.append(ident)
    return found

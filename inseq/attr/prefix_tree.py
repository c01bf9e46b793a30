"""Which prefixes of many token rows to run once: a plan over the rows' prefix tree.

Rows that differ in a few places (ablated contexts, leave-one-out prompts) share long prefixes: every row keeping the
first sources shares their tokens, the rows keeping the first but not the second share those up to the second, and
so on. :func:`plan_prefixes` builds the tree of the rows' common prefixes and picks the prefixes to cache: each runs
once (its *segment*, the tokens after the cached prefix above it), and every row then runs only its tokens after the
deepest cached prefix it has. Segments run in *waves* (a prefix after the one above it), rows after the last wave;
the forwards of a wave, and of the rows, mix prefixes of any depth, so they are sized by width alone
(:func:`chunk_rows`: a forward of ``n`` rows padded to ``w`` tokens costs ``overhead + n * w``, ``overhead`` being the
tokens' worth of time a forward costs whatever its size). The plan only decides; :class:`inseq.attr.scorer.Scorer`
runs it.

A prefix never reaches past the first read column of a row below it (the cache ends before the logits it reads),
and the cached prefixes held at once stay within a token budget.

Example:
    >>> plan = plan_prefixes([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [1, 2, 3, 7, 8]], [4, 4, 4], 64)
    >>> [(p.depth, p.parent, p.key, p.wave) for p in plan.prefixes], plan.hosts  # one path: row 0 runs both
    ([(3, -1, 0, 0), (4, -1, 0, 0)], [1, 1, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CachedPrefix:
    """A prefix run once, its key-value cache kept for the rows and prefixes below it.

    Attributes:
        depth: Its tokens.
        parent: Index of the cached prefix its path runs after (-1: none, from the first token).
        key: The row whose tokens the path runs (the prefixes of one path share ``parent``, ``key`` and ``wave``:
            one row, from ``parent``'s cache to the deepest of them, gives all their caches).
        wave: 0 when its path runs from the first token, else ``parent``'s wave + 1.
    """

    depth: int
    parent: int
    key: int
    wave: int


@dataclass
class PrefixPlan:
    """The cached prefixes, parents first, and the deepest one each row runs after (-1: none).

    Attributes:
        prefixes: The cached prefixes, ordered by wave.
        hosts: For each row, the index of the cached prefix it runs after.
    """

    prefixes: list[CachedPrefix] = field(default_factory=list)
    hosts: list[int] = field(default_factory=list)

    def depth_of(self, host: int) -> int:
        """Tokens of cached prefix ``host`` (0 for -1: no cache)."""
        return self.prefixes[host].depth if host >= 0 else 0


@dataclass(eq=False)
class _Node:
    depth: int
    members: list[int]
    children: list[_Node] = field(default_factory=list)


def _common(a: Sequence[int], b: Sequence[int], start: int) -> int:
    n = start
    for x, y in zip(a[start:], b[start:]):
        if x != y:
            break
        n += 1
    return n


def _tree(seqs: Sequence[Sequence[int]], limits: Sequence[int]) -> _Node:
    """The compressed tree of the rows' prefixes, each node capped at the first read column of its rows."""
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    root = _Node(0, order)
    todo = [root]
    while todo:
        node = todo.pop()
        rest = [i for i in node.members if limits[i] > node.depth]
        start = 0
        for end in range(1, len(rest) + 1):
            if end < len(rest) and seqs[rest[end]][node.depth] == seqs[rest[start]][node.depth]:
                continue
            group = rest[start:end]
            lcp = _common(seqs[group[0]], seqs[group[-1]], node.depth)  # sorted: the group's common prefix
            child = _Node(min(lcp, min(limits[i] for i in group)), group)
            node.children.append(child)
            todo.append(child)
            start = end
    return root


def chunk_rows(
    rows: Sequence[int], widths: Sequence[int], reads: Sequence[int], overhead: float, tokens: int, logits: int
) -> list[list[int]]:
    """Split ``rows`` into forwards: sorted by width (``widths[i]`` tokens), a row joins the current forward when
    padding its rows to the new width costs less than a forward of its own (``overhead`` tokens) and the forward
    stays within ``tokens`` (rows x width) and ``logits`` (the rows' ``reads``).

    Example:
        >>> chunk_rows([0, 1, 2], [10, 11, 40], [1, 1, 1], 8.0, 1000, 1000)
        [[0, 1], [2]]
    """
    chunks: list[list[int]] = []
    width, held = 0, 0
    for i in sorted(rows, key=lambda j: widths[j]):
        n = len(chunks[-1]) if chunks else 0
        w = widths[i]
        if n and n * (w - width) <= overhead and (n + 1) * w <= tokens and held + reads[i] <= logits:
            chunks[-1].append(i)
            held += reads[i]
        else:
            chunks.append([i])
            held = reads[i]
        width = w
    return chunks


def _pick(root: _Node, threshold: float) -> PrefixPlan:
    """Cache each node whose segment, run once instead of by each of its rows, saves more than ``threshold``
    tokens (``(rows - 1) x segment``, top-down), and lay the cached prefixes on paths: a prefix continues the path
    of its parent when it is the parent's largest cached child (one row runs the whole path, each prefix of it cut
    from its cache), else starts a path in the next wave. A wave is then at most the log of the prefixes."""
    picked: list[tuple[_Node, int]] = []  # (node, index of the cached parent), parents first
    todo: list[tuple[_Node, int]] = [(child, -1) for child in reversed(root.children)]
    while todo:
        node, host = todo.pop()
        above = picked[host][0].depth if host >= 0 else 0
        if (len(node.members) - 1) * (node.depth - above) > threshold:
            picked.append((node, host))
            host = len(picked) - 1
        todo.extend((child, host) for child in reversed(node.children))
    heavy: dict[int, int] = {}
    for i, (node, parent) in enumerate(picked):
        if parent >= 0 and (parent not in heavy or len(node.members) > len(picked[heavy[parent]][0].members)):
            heavy[parent] = i
    start, wave, end = [0] * len(picked), [0] * len(picked), list(range(len(picked)))
    for i, (_, parent) in enumerate(picked):
        if parent >= 0 and heavy[parent] == i:  # continues its parent's path
            start[i], wave[i] = start[parent], wave[parent]
        else:
            start[i], wave[i] = parent, wave[parent] + 1 if parent >= 0 else 0
    for i in reversed(range(len(picked))):  # the deepest prefix of each path, bottom-up
        parent = picked[i][1]
        if parent >= 0 and heavy[parent] == i:
            end[parent] = end[i]
    order = sorted(range(len(picked)), key=lambda i: (wave[i], i))
    new = {old: k for k, old in enumerate(order)}
    plan = PrefixPlan(hosts=[-1] * len(root.members))
    for old in order:
        node = picked[old][0]
        key = picked[end[old]][0].members[0]
        plan.prefixes.append(CachedPrefix(node.depth, new.get(start[old], -1), key, wave[old]))
        for i in node.members:
            if node.depth > plan.depth_of(plan.hosts[i]):
                plan.hosts[i] = new[old]
    return plan


def plan_prefixes(seqs: Sequence[Sequence[int]], limits: Sequence[int], max_cached: int) -> PrefixPlan:
    """Pick the prefixes to cache (see the module docstring): every prefix shared by at least two rows, unless the
    cached prefixes would hold more than ``max_cached`` tokens at once; then only those saving the most (the
    threshold on ``(rows - 1) x segment`` doubles until they fit).

    Args:
        seqs: The rows' token ids.
        limits: The first column whose logits each row reads (a cache of that row stops before it).
        max_cached: Tokens the cached prefixes may hold together.

    Example:
        >>> plan = plan_prefixes([[1, 2, 3, 4], [1, 2, 3, 5]], [3, 3], 2)  # a 3-token prefix does not fit in 2
        >>> plan.prefixes, plan.hosts
        ([], [-1, -1])
    """
    root, threshold = _tree(seqs, limits), 0.0
    while True:
        plan = _pick(root, threshold)
        if sum(p.depth for p in plan.prefixes) <= max_cached:
            return plan
        threshold = max(1.0, 2 * threshold)

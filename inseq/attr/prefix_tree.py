"""Which prefixes of many token rows to run once: a plan over the rows' prefix tree.

Rows that differ in a few places (ablated contexts, leave-one-out prompts) share long prefixes: every row keeping the
first sources shares their tokens, the rows keeping the first but not the second share those up to the second, and
so on. :func:`plan_prefixes` builds the tree of the rows' common prefixes and picks the nodes whose prefix runs once,
its key-value cache serving every row below it. A picked node's prefix is one more row of the nearest picked node
above it (its *segment*: the tokens between the two), run in that node's forwards, batched with its rows and the
other segments. A node is picked when that lowers the cost of the whole, in tokens: a forward of ``n`` rows padded to
``w`` new tokens costs ``overhead + n * w``, ``overhead`` being the tokens' worth of time a forward costs whatever its
size (reading the weights, launching kernels). The plan only decides; :class:`inseq.attr.scorer.Scorer` runs it.

A node never reaches past the first read column of a row below it (the cache ends before the logits it reads).

Example:
    >>> plan = plan_prefixes([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [1, 2, 3, 7, 8]], [4, 4, 4], [1, 1, 1], 1.0, 64, 64)
    >>> plan.depth, plan.rows, [(c.depth, c.rows, c.segment) for c in plan.children]  # row 3: the prefix [1, 2, 3]
    (0, [3], [(3, [0, 1, 2], 3)])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(eq=False)
class PrefixPlan:
    """A node of the plan: a prefix run once, and what runs from its key-value cache.

    Attributes:
        depth: Tokens of the prefix (0 at the root: no cache).
        rows: What runs from this node's cache, in forwards of its own (see :func:`chunk_rows`): indices of rows,
            and the ``segment`` of each child.
        children: Nodes whose prefix runs from this node's cache.
        key: A row whose first ``depth`` tokens are the prefix.
        segment: The index standing for this node's prefix among its parent's ``rows`` (``lengths[segment]`` is
            ``depth`` and ``reads[segment]`` is 0 in :attr:`lengths` and :attr:`reads` of the root); -1 at the root.
        lengths: At the root: the length of every row and segment.
        reads: At the root: the logits every row and segment reads.
    """

    depth: int
    rows: list[int]
    children: list[PrefixPlan] = field(default_factory=list)
    key: int = 0
    segment: int = -1
    lengths: list[int] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)


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
    rows: Sequence[int],
    lengths: Sequence[int],
    depth: int,
    reads: Sequence[int],
    overhead: float,
    tokens: int,
    logits: int,
) -> tuple[list[list[int]], float]:
    """Split ``rows`` run from a cache of ``depth`` tokens into forwards and say what they cost, in tokens.

    The rows are sorted by width (row ``i`` runs ``lengths[i] - depth`` tokens); a row joins the current forward when
    padding its rows to the new width costs less than a forward of its own (``overhead``) and the forward stays
    within ``tokens`` (rows x width) and ``logits`` (the rows' ``reads``).

    Example:
        >>> chunk_rows([0, 1, 2], [12, 13, 42], 2, [1, 1, 1], 8.0, 1000, 1000)
        ([[0, 1], [2]], 78.0)
    """
    chunks: list[list[int]] = []
    cost, width, held = 0.0, 0, 0
    for i in sorted(rows, key=lambda j: lengths[j]):
        w = lengths[i] - depth
        n = len(chunks[-1]) if chunks else 0
        if n and n * (w - width) <= overhead and (n + 1) * w <= tokens and held + reads[i] <= logits:
            chunks[-1].append(i)
            cost += n * (w - width) + w
            held += reads[i]
        else:
            chunks.append([i])
            cost += overhead + w
            held = reads[i]
        width = w
    return chunks, cost


def plan_prefixes(
    seqs: Sequence[Sequence[int]],
    limits: Sequence[int],
    reads: Sequence[int],
    overhead: float,
    tokens: int,
    logits: int,
) -> PrefixPlan:
    """Pick the prefixes to run once (see the module docstring).

    Top-down over the prefix tree, a node is picked when running its segment with the rows of the nearest picked
    node above, and its rows from its cache, costs less than running them from that node's cache (:func:`chunk_rows`
    prices both).

    Args:
        seqs: The rows' token ids.
        limits: The first column whose logits each row reads (a cache of that row stops before it).
        reads: The logits each row reads.
        overhead: What a forward costs beyond its tokens, in tokens.
        tokens: Budget of one forward, ``rows x new tokens``.
        logits: Budget of one forward's logits.

    Returns:
        The root (depth 0: no cache), holding the lengths and reads of the rows and of the picked segments.

    Example:
        >>> plan = plan_prefixes([[1, 2, 3, 4], [1, 2, 3, 5]], [3, 3], [1, 1], 100.0, 64, 64)
        >>> plan.rows, plan.children  # two rows of 4 tokens: a shared forward costs more than it saves
        ([0, 1], [])
    """
    root, lengths, counts = _tree(seqs, limits), [len(s) for s in seqs], list(reads)

    def cost(rows: list[int], depth: int) -> float:
        return chunk_rows(rows, lengths, depth, counts, overhead, tokens, logits)[1] if rows else 0.0

    plans = {root: PrefixPlan(0, list(root.members), lengths=lengths, reads=counts)}
    queue = deque((child, root) for child in root.children)
    while queue:
        node, host = queue.popleft()
        hosted, inside, segment = plans[host], set(node.members), len(lengths)
        lengths.append(node.depth)
        counts.append(0)
        others = [i for i in hosted.rows if i not in inside] + [segment]
        if cost(others, host.depth) + cost(node.members, node.depth) < cost(hosted.rows, host.depth):
            plans[node] = PrefixPlan(node.depth, list(node.members), key=node.members[0], segment=segment)
            hosted.rows = others
            hosted.children.append(plans[node])
            host = node
        else:
            lengths.pop()
            counts.pop()
        queue.extend((child, host) for child in node.children)
    return plans[root]

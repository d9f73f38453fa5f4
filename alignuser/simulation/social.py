"""Social graph (networkx) and word of mouth.

Graphs: ``none``, ``random`` (G(n, m) with the given mean degree), ``small_world``
(Watts-Strogatz) or ``co_rating`` (each agent linked to the ``degree`` agents whose training
histories are most similar, cosine). Word of mouth: an agent's state shows its friends' recent
high ratings ("Your friend liked X (rated 5)"), and the items are flagged in
``PageState.features["friend_items"]`` so policies can weigh them by the agent's conformity.

Example:
    >>> from alignuser.simulation.social import WordOfMouth, build_graph
    >>> g = build_graph("small_world", n_agents=10, degree=4, rewire=0.1, seed=0)
    >>> wom = WordOfMouth(g, window=3, max_lines=2)
    >>> wom.record(step=1, agent_ids=[1], item_ids=[7], ratings=[5.0], titles=["Heat"])
    >>> wom.lines(0, step=2)[0] if 1 in g[0] else "Your friend liked Heat (rated 5)"
    'Your friend liked Heat (rated 5)'
"""

from __future__ import annotations

from collections import deque

import numpy as np


def build_graph(
    kind: str,
    n_agents: int,
    degree: int = 6,
    rewire: float = 0.1,
    seed: int = 0,
    user_matrix=None,
):
    """Build the social graph over agents ``0..n_agents-1``.

    Args:
        kind: ``none``, ``random``, ``small_world`` or ``co_rating``.
        n_agents: Number of agents.
        degree: Mean degree (``random``), neighbours (``small_world``, ``co_rating``).
        rewire: Rewiring probability of ``small_world``.
        seed: Seed.
        user_matrix: ``co_rating`` only: sparse agents x items matrix of training histories.

    Returns:
        A ``networkx.Graph``.
    """
    import networkx as nx

    if kind == "none" or n_agents < 2:
        g = nx.empty_graph(n_agents)
    elif kind == "random":
        m = min(n_agents * degree // 2, n_agents * (n_agents - 1) // 2)
        g = nx.gnm_random_graph(n_agents, m, seed=seed)
    elif kind == "small_world":
        k = max(2, min(degree, n_agents - 1))
        g = nx.watts_strogatz_graph(n_agents, k, rewire, seed=seed)
    elif kind == "co_rating":
        if user_matrix is None:
            raise ValueError("co_rating graph needs the agents' interaction matrix")
        g = _co_rating_graph(user_matrix, degree)
    else:
        raise ValueError(f"unknown social graph {kind!r}")
    return g


def _co_rating_graph(matrix, degree: int):
    import networkx as nx
    import scipy.sparse as sp

    m = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    m = sp.diags(1.0 / norms) @ m
    n = m.shape[0]
    g = nx.empty_graph(n)
    for start in range(0, n, 1024):  # bounded memory: score in blocks
        sims = (m[start : start + 1024] @ m.T).toarray()
        for row, agent in enumerate(range(start, min(start + 1024, n))):
            sims[row, agent] = -np.inf
            k = min(degree, n - 1)
            nbrs = np.argpartition(-sims[row], k - 1)[:k]
            g.add_edges_from((agent, int(j)) for j in nbrs if sims[row, j] > 0)
    return g


class WordOfMouth:
    """Recent high ratings of each agent, read by its friends.

    Args:
        graph: The social graph.
        window: How many steps a rating stays visible to friends.
        max_lines: At most this many lines per state.
    """

    def __init__(self, graph, window: int = 3, max_lines: int = 3):
        self.graph = graph
        self.window = window
        self.max_lines = max_lines
        self._recent: dict[int, deque] = {}

    def record(self, step: int, agent_ids, item_ids, ratings, titles) -> None:
        """Remember liked items (call with only the ratings worth telling friends)."""
        for a, i, r, t in zip(agent_ids, item_ids, ratings, titles):
            q = self._recent.setdefault(int(a), deque(maxlen=8))
            q.appendleft((step, int(i), float(r), t))

    def get_state(self) -> dict[str, list]:
        """Recent likes per agent (JSON-able)."""
        return {str(a): [list(x) for x in q] for a, q in self._recent.items()}

    def set_state(self, state: dict[str, list]) -> None:
        """Restore :meth:`get_state` output."""
        self._recent = {
            int(a): deque((tuple(x) for x in rows), maxlen=8) for a, rows in state.items()
        }

    def _fresh(self, agent_id: int, step: int):
        out = []
        for friend in sorted(self.graph[agent_id]) if agent_id in self.graph else ():
            for s, i, r, t in self._recent.get(friend, ()):
                if step - s <= self.window:
                    out.append((s, friend, i, r, t))
        out.sort(key=lambda x: (-x[0], -x[3], x[1], x[2]))
        return out

    def lines(self, agent_id: int, step: int) -> list[str]:
        """Word-of-mouth lines for an agent's state, newest first."""
        lines, seen = [], set()
        for _, _, i, r, t in self._fresh(agent_id, step):
            if i in seen:
                continue
            seen.add(i)
            lines.append(f"Your friend liked {t} (rated {int(r) if float(r).is_integer() else r})")
            if len(lines) >= self.max_lines:
                break
        return lines

    def items(self, agent_id: int, step: int) -> frozenset[int]:
        """Ids of items friends liked recently."""
        return frozenset(i for _, _, i, _, _ in self._fresh(agent_id, step))

"""The sections of a scenario: its typed parts, one pydantic model each.

Data, split, population, memory, policy, recommenders, session, social graph, engine,
resilience and output. Each forbids unknown keys and bounds its numbers;
:class:`~alignuser.scenario.Scenario` holds one of each, and :mod:`alignuser.scenario`
re-exports them.

Example:
    >>> from alignuser.scenario_sections import SessionSpec
    >>> SessionSpec(max_pages=3).items_per_page
    4
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DatasetSpec",
    "EngineSpec",
    "MemorySpec",
    "OutputSpec",
    "PolicySpec",
    "PopulationSpec",
    "RecommenderSpec",
    "ResilienceSpec",
    "Section",
    "SessionSpec",
    "SocialSpec",
    "SplitSpec",
    "SyntheticSpec",
]


class Section(BaseModel):
    """A scenario section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class SyntheticSpec(Section):
    """Parameters of the embedded synthetic world."""

    n_users: int = Field(300, ge=1)
    n_items: int = Field(300, ge=10)
    n_genres: int = Field(12, ge=2)
    sessions_per_user: int = Field(3, ge=1)
    seed: int = 0


class DatasetSpec(Section):
    """Where the data come from: ``synthetic`` or a path read by a registered loader."""

    source: Literal["synthetic", "path"] = "synthetic"
    path: str | None = None
    format: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    synthetic: SyntheticSpec = Field(default_factory=SyntheticSpec)

    @model_validator(mode="after")
    def _path_needed(self):
        if self.source == "path" and not self.path:
            raise ValueError("dataset.path is required when dataset.source is 'path'")
        return self


class SplitSpec(Section):
    """How interactions are split into the training part (recommenders, personas, memory)."""

    method: Literal["none", "random", "temporal", "leave_last_n", "provided"] = "random"
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    valid_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    n_test: int = Field(1, ge=1)
    name: str | None = None


class PopulationSpec(Section):
    """Who the agents are: personas derived from the dataset's users, or sampled from a mix."""

    n_agents: int = Field(200, ge=1)
    source: Literal["dataset", "mix"] = "dataset"
    mix: str = "personas/mix_default.yaml"
    archetypes: str = "personas/archetypes.yaml"
    history_memories: int = Field(20, ge=0)


class MemorySpec(Section):
    """Episodic memory backend and retrieval."""

    backend: Literal["chroma", "inmemory"] = "chroma"
    path: str | None = None
    server_url: str | None = None
    top_k: int = Field(2, ge=0)
    recent_k: int = Field(3, ge=0)
    encoder: Literal["default", "text", "cf"] = "default"
    write_behind: bool = True
    store_history: bool = Field(
        False,
        description="Also write the agents' seeded history memories to Chroma. By default "
        "they are derived from the dataset (again on resume) and kept in the in-process "
        "index only: Chroma holds what happened in the run, at a third of the writes.",
    )
    hnsw: dict[str, Any] | None = Field(
        default_factory=lambda: {"ef_construction": 16, "max_neighbors": 4},
        description="Chroma HNSW settings of new collections. The default is cheap to build "
        "(per-step retrieval is served by the in-process index, not by Chroma's ANN); set "
        "null for Chroma's own defaults when you query the store directly.",
    )


class PolicySpec(Section):
    """Which registered policy decides, and its parameters."""

    name: str = "choice"
    params: dict[str, Any] = Field(default_factory=dict)
    checkpoint: str | None = None


class RecommenderSpec(Section):
    """One recommender under evaluation."""

    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def display(self) -> str:
        """Label used in outputs (``label`` or ``name``)."""
        return self.label or self.name


class SessionSpec(Section):
    """Session rules (Agent4Rec: 4 items per page, up to 5 pages)."""

    items_per_page: int = Field(4, ge=1)
    max_pages: int = Field(5, ge=1)
    sessions_per_agent: int = Field(1, ge=1)
    activation_prob: float = Field(1.0, gt=0.0, le=1.0)
    max_steps: int | None = Field(None, ge=1)
    update_recommender: bool = False


class SocialSpec(Section):
    """Social graph and word of mouth."""

    graph: Literal["none", "random", "small_world", "co_rating"] = "none"
    degree: int = Field(6, ge=1)
    rewire: float = Field(0.1, ge=0.0, le=1.0)
    influence: float = Field(1.0, ge=0.0)
    window: int = Field(3, ge=1)
    max_lines: int = Field(3, ge=0)


class EngineSpec(Section):
    """How the population runs: in this process, or as shards on a Ray cluster.

    ``engine: local`` (a plain string) is accepted and means ``{kind: local, shards: 1}``.
    The population is split into ``shards`` contiguous blocks of agents; each shard is an
    independent model (own policy replica, memory collection and seeds derived from
    ``(seed, shard)``). Social graphs need ``shards: 1``. ``address`` is the Ray cluster
    (``null``: a local one, ``"auto"``, ``"ray://head:10001"``); ``ship_prepared`` sends the
    prepared data to the Ray workers through the object store instead of having each worker
    recompute it from the scenario.
    """

    kind: Literal["local", "ray"] = "local"
    shards: int = Field(1, ge=1)
    address: str | None = None
    ship_prepared: bool = True

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data):
        return {"kind": data} if isinstance(data, str) else data


class ResilienceSpec(Section):
    """Retries around the batched recommender and policy calls of each step.

    A failing batch call is retried ``retries`` times with exponential backoff
    (``backoff * 2**attempt`` seconds, at most ``backoff_max``); if it still fails the
    step goes agent by agent, and an agent whose call keeps failing gets a recorded fault and
    a safe fallback (skip everything and exit; no page: the session ends).
    """

    retries: int = Field(2, ge=0)
    backoff: float = Field(0.5, ge=0.0)
    backoff_max: float = Field(10.0, ge=0.0)
    max_failed_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A recommender with a larger share of failed sessions is marked "
        "`failed` in the manifest and left out of the ranking, and the run exits non-zero; "
        "a smaller, non-zero share marks it `partial`.",
    )


class OutputSpec(Section):
    """Where results land."""

    dir: str = "runs"
    report: bool = True

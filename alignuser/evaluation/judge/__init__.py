r"""LLM-as-judge human-likeness: a judge rates sessions 1..5 and picks the real of a pair.

The family's modules:

* :mod:`~alignuser.evaluation.judge.scores`: the judge model from a spec
  (:func:`judge_model`), the 1..5 score of each transcript with retries and an answer cache
  (:func:`judge_sessions`), their summary and the protocol on a run folder
  (:func:`run_judge`);
* :mod:`~alignuser.evaluation.judge.prompt`: the rubric, how answers are read, the cache key;
* :mod:`~alignuser.evaluation.judge.transcripts`: simulated and human sessions rendered the
  same way;
* :mod:`~alignuser.evaluation.judge.agreement`: does the judge pick the real of a (real,
  simulated) pair on the same pages, and do its scores rank the policies as the
  discriminator of :mod:`alignuser.evaluation.likeness` does;
* :mod:`~alignuser.evaluation.judge.local`: offline judges (a local causal LM behind a
  LangChain chat model; imported only when such a spec is used).

Example:
    >>> parse_judgement("SCORE 4\nREASON consistent taste, natural exit")
    (4, 'consistent taste, natural exit')
"""

from alignuser.evaluation.judge.prompt import JUDGE_PROMPT, model_id, parse_judgement
from alignuser.evaluation.judge.scores import (
    NOT_RUN,
    judge_model,
    judge_sessions,
    judge_table,
    run_judge,
)
from alignuser.evaluation.judge.transcripts import (
    human_transcripts,
    item_labels,
    render_session,
    simulated_transcripts,
)

__all__ = ["JUDGE_PROMPT", "NOT_RUN", "human_transcripts", "item_labels", "judge_model",
           "judge_sessions", "judge_table", "model_id", "parse_judgement", "render_session",
           "run_judge", "simulated_transcripts"]  # fmt: skip

"""Policies: decide a batch of page states -> actions (see :class:`alignuser.interfaces.Policy`).

Built-ins: ``"random"`` (:class:`RandomPolicy`), ``"choice"`` (:class:`ChoiceModelPolicy`, a
calibrated RecSim-style choice model) and ``"chat"`` (:class:`ChatModelPolicy`, any LangChain
chat model prompted Agent4Rec style). LangChain tools over a policy or a memory live in
:mod:`alignuser.policy.tools`.
"""

from alignuser.policy.chat import ChatModelPolicy
from alignuser.policy.choice import ChoiceModelPolicy, ChoiceParams
from alignuser.policy.random import RandomPolicy
from alignuser.policy.registry import POLICIES, make_policy

__all__ = [
    "POLICIES",
    "ChatModelPolicy",
    "ChoiceModelPolicy",
    "ChoiceParams",
    "RandomPolicy",
    "make_policy",
]

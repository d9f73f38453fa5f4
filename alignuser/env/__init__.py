"""Pages, actions, sessions and their text form."""

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState

__all__ = ["ItemDecision", "ItemView", "PageAction", "PageState"]

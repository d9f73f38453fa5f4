import pytest

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState
from alignuser.env.text import (
    ActionParseError,
    StateParseError,
    extract_action,
    memory_line,
    parse_action,
    parse_state,
    render_action,
    render_state,
)

TRICKY = [
    'Brother, Can\'t You "Spare" a Dime?',
    "Misérables, Les (1995)",
    "東京物語 (1953)",
    "Back\\slash | pipe ] bracket [",
    "",
]


def _state(title: str, memories=("I liked Heat (1995) based on my review score of 5",)):
    return PageState(
        agent_id=1,
        persona='A "picky" critic, 25-34; likes Drama, Film-Noir',
        page=3,
        items=(
            ItemView(0, title, ("Comedy", "Drama, Romance"), 1995, 3.5, 0.25, ("I liked A, B",)),
            ItemView(1, "Other", (), None, None, 0.0, ()),
        ),
        memories=memories,
        social=("A friend rated X 5",),
        max_rating=5,
    )


@pytest.mark.parametrize("title", TRICKY)
def test_state_round_trip(title):
    s = _state(title)
    text = render_state(s)
    back = parse_state(text, agent_id=1)
    assert back == s
    assert render_state(back) == text


def test_state_without_optional_sections():
    s = _state("T", memories=())
    s = PageState(s.agent_id, s.persona, s.page, s.items, (), (), 10)
    text = render_state(s)
    assert "MEMORIES" not in text and "FRIENDS" not in text
    assert parse_state(text, agent_id=1) == s


def test_state_parse_errors_name_the_line():
    text = render_state(_state("T"))
    broken = text.replace("| year 1995", "| yr 1995")
    with pytest.raises(StateParseError, match="line"):
        parse_state(broken)
    with pytest.raises(StateParseError):
        parse_state("hello")


@pytest.mark.parametrize(
    "action",
    [
        PageAction((ItemDecision(4, True, 5), ItemDecision(9, False)), exit=False),
        PageAction((ItemDecision(4, False), ItemDecision(9, False)), exit=True),
        PageAction((ItemDecision(4, True, 1), ItemDecision(9, True, 10)), exit=True),
    ],
)
def test_action_round_trip(action):
    text = render_action(action)
    assert parse_action(text, (4, 9), max_rating=10) == action


@pytest.mark.parametrize(
    "text,msg",
    [
        ("1. WATCH 4\nNEXT", "expected 2 decision lines"),
        ("1. WATCH 6\n2. SKIP\nNEXT", "outside 1..5"),
        ("1. WATCH 0\n2. SKIP\nNEXT", "outside 1..5"),
        ("2. SKIP\n1. SKIP\nNEXT", "out of order"),
        ("1. WATCH\n2. SKIP\nNEXT", "line 1"),
        ("1. SKIP\n2. SKIP\nSTAY", "NEXT or EXIT"),
        ("1. skip\n2. SKIP\nNEXT", "line 1"),
        ("1. SKIP 3\n2. SKIP\nNEXT", "line 1"),
    ],
)
def test_action_parse_is_strict(text, msg):
    with pytest.raises(ActionParseError, match=msg):
        parse_action(text, (4, 9), max_rating=5)


def test_extract_action_from_chat_answer():
    answer = "Let me think.\n1. I like it\nSo:\n1. WATCH 5\n2. SKIP\nEXIT\nBye"
    a = extract_action(answer, (4, 9), 5)
    assert a == PageAction((ItemDecision(4, True, 5), ItemDecision(9, False)), exit=True)
    with pytest.raises(ActionParseError):
        extract_action("no answer here", (4, 9), 5)


def test_action_validation():
    with pytest.raises(ValueError):
        ItemDecision(1, True, None)
    with pytest.raises(ValueError):
        ItemDecision(1, False, 3)
    with pytest.raises(ValueError):
        PageAction((ItemDecision(1, False), ItemDecision(1, False)), exit=False)
    a = PageAction((ItemDecision(1, True, 6),), exit=False)
    with pytest.raises(ValueError, match="max"):
        a.validate_for((1,), 5)
    with pytest.raises(ValueError, match="covers"):
        a.validate_for((2,), 10)


def test_memory_line_thresholds():
    assert memory_line("X", 5).startswith("I liked X")
    assert memory_line("X", 4).startswith("I liked X")
    assert memory_line("X", 3).startswith("I felt neutral about X")
    assert memory_line("X", 2).startswith("I disliked X")
    assert memory_line("X", 8, max_rating=10).startswith("I liked")
    assert memory_line("X", 4.5).endswith("score of 4.5")

"""HTTPRecommender against a real local server (the shipped fake service on 127.0.0.1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alignuser.interfaces import Feedback
from alignuser.recommenders import (
    HTTPRecommender,
    PopularRecommender,
    RecommenderServiceError,
    make_recommender,
)
from alignuser.testing.recommenders import RecommenderConformance, conformance_data
from alignuser.testing.services import FakeRecommenderService

_SERVICE: FakeRecommenderService | None = None


def service() -> FakeRecommenderService:
    """One scripted service for the module (``script`` lists the next answers)."""
    global _SERVICE
    if _SERVICE is None:
        _SERVICE = FakeRecommenderService(PopularRecommender().fit(*conformance_data()), [])
    return _SERVICE


@pytest.fixture(scope="module", autouse=True)
def _stop_service():
    yield
    global _SERVICE
    if _SERVICE is not None:
        _SERVICE.close()
        _SERVICE = None


@pytest.fixture
def svc():
    s = service()
    s.script.clear()
    s.requests.clear()
    return s


def client(svc, **kw) -> HTTPRecommender:
    kw = {"timeout": 2.0, "retries": 2, "backoff": 0.01, **kw}
    return HTTPRecommender(url=svc.url, **kw).fit(*conformance_data())


class TestHTTPConformance(RecommenderConformance):
    """The adapter in front of a served PopularRecommender passes the whole kit."""

    def make_recommender(self):
        return client(service())


def test_good_response_and_payload(svc):
    rec = client(svc)
    users = np.array([0, 5, 57])
    out = rec.recommend(users, 5, [np.array([1, 2]), np.array([], int), np.array([3])], page=2)
    np.testing.assert_array_equal(
        out, svc.backend.recommend(users, 5, [np.array([1, 2]), np.array([], int), np.array([3])])
    )
    assert svc.requests[-1] == {
        "user_ids": [0, 5, 57],
        "k": 5,
        "exclude": [[1, 2], [], [3]],
        "page": 2,
    }
    rec.recommend(users, 5)
    assert "page" not in svc.requests[-1]
    assert svc.requests[-1]["exclude"] == [[], [], []]


def test_retries_after_500(svc):
    svc.script[:] = ["500", "500"]
    out = client(svc, retries=2).recommend(np.array([0, 1]), 4)
    assert out.shape == (2, 4) and (out >= 0).all()
    assert len(svc.requests) == 3


def test_gives_up_after_retries_with_status_and_body(svc):
    svc.script[:] = ["500", "500", "500"]
    with pytest.raises(RecommenderServiceError) as err:
        client(svc, retries=1).recommend(np.array([0]), 4)
    msg = str(err.value)
    assert (
        svc.url in msg and "HTTP 500" in msg and "model not loaded" in msg and "2 attempts" in msg
    )
    assert err.value.status == 500


def test_timeout_then_success_and_timeout_error(svc):
    svc.script[:] = ["slow"]
    out = client(svc, timeout=0.5, retries=1).recommend(np.array([0]), 3)
    assert out.shape == (1, 3)
    svc.script[:] = ["slow"]
    with pytest.raises(RecommenderServiceError, match="timed out"):
        client(svc, timeout=0.5, retries=0).recommend(np.array([0]), 3)


def test_4xx_is_not_retried(svc):
    svc.script[:] = ["404"]
    with pytest.raises(RecommenderServiceError, match=r"HTTP 404.*no such route"):
        client(svc).recommend(np.array([0]), 3)
    assert len(svc.requests) == 1


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("badjson", "not JSON"),
        ("short", "1 rows for 2 users"),
        ("dup", "repeats items"),
        ("excluded", "excluded items"),
    ],
)
def test_malformed_answers_raise_clear_errors(svc, mode, message):
    svc.script[:] = [mode]
    with pytest.raises(RecommenderServiceError, match=message) as err:
        client(svc).recommend(np.array([0, 1]), 4, [np.array([7]), np.array([8])])
    assert svc.url in str(err.value)


def test_wrong_row_length_and_unknown_ids_detected():
    rec = HTTPRecommender(url="http://unused")
    rec.n_items = 10
    resp = type("R", (), {"text": json.dumps({"items": [[1, 2]]}), "status_code": 200})()
    with pytest.raises(RecommenderServiceError, match="has 2 items, expected k=3"):
        rec._parse(resp, np.array([0]), 3, [[]])
    resp.text = json.dumps({"items": [[1, 12, -1]]})
    with pytest.raises(RecommenderServiceError, match="outside the catalog"):
        rec._parse(resp, np.array([0]), 3, [[]])
    resp.text = json.dumps({"items": [[-1, 2, 3]]})
    with pytest.raises(RecommenderServiceError, match="padding must come last"):
        rec._parse(resp, np.array([0]), 3, [[]])


def test_connection_refused_is_reported():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = HTTPRecommender(url=f"http://127.0.0.1:{port}/x", retries=1, backoff=0.0, timeout=1.0)
    with pytest.raises(RecommenderServiceError, match="connection failed"):
        rec.recommend(np.array([0]), 3)


def test_feedback_is_posted_and_registry_builds_it(svc):
    rec = make_recommender("http", url=svc.url, feedback_url=svc.base_url + "/feedback")
    svc.feedback.clear()
    rec.update(
        Feedback(
            user_ids=np.array([1, 1]),
            item_ids=np.array([4, 5]),
            clicked=np.array([True, False]),
            ratings=np.array([4.0, np.nan]),
        )
    )
    assert svc.feedback == [
        {"user_ids": [1, 1], "item_ids": [4, 5], "clicked": [True, False], "ratings": [4.0, None]}
    ]
    rec.close()


def test_the_shipped_fake_service_follows_a_schedule():
    import urllib.error
    import urllib.request

    def post(url, body):
        req = urllib.request.Request(url, json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())

    backend = PopularRecommender().fit(*conformance_data())
    body = {"user_ids": [0, 1], "k": 3, "exclude": [[], []]}
    with FakeRecommenderService(backend, lambda n, b: "500" if n == 2 else "ok") as svc:
        status, out = post(svc.url, body)
        assert status == 200 and len(out["items"]) == 2 and len(out["items"][0]) == 3
        with pytest.raises(urllib.error.HTTPError, match="500"):
            post(svc.url, body)
        assert post(svc.url, body)[0] == 200
        assert svc.calls == 3 and svc.served == {"ok": 2, "500": 1}
    with FakeRecommenderService(backend, "drop") as svc:
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            post(svc.url, body)

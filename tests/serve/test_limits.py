"""The service's limits over real HTTP: bodies over the limit (announced, or streamed in
chunks without a length) are answered 413, and requests over the token's rate 429 with
Retry-After, as are repeated failed authentications."""

from __future__ import annotations

import httpx
import pytest

from tests.serve.conftest import Service, subject_json

LIMIT = 4096
RATE = 6


@pytest.fixture(scope="module")
def service(model_dir, tmp_path_factory):
    server = Service(model_dir, tmp_path_factory.mktemp("limits"), "--rate-limit", str(RATE),
                     "--max-body-bytes", str(LIMIT))
    yield server
    server.stop()


def test_body_limit_then_rate_limit(service, cohort):
    body = {"subjects": [subject_json(cohort, cohort.subjects[40])]}
    padding = b'{"subjects": [' + b" " * (LIMIT + 100) + b"]}"

    def chunks():
        for k in range(0, len(padding), 1000):
            yield padding[k:k + 1000]

    with service.client() as c:
        assert c.post("/predict", json=body).status_code == 200
        announced = c.post("/predict", content=padding,
                           headers={"Content-Type": "application/json"})
        assert announced.status_code == 413
        assert f"longer than the service's limit of {LIMIT:,} bytes" in announced.json()[
            "detail"]
        request = c.build_request("POST", "/predict", content=chunks(),
                                  headers={"Content-Type": "application/json"})
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        streamed = c.send(request)
        assert streamed.status_code == 413 and streamed.json()["request_id"]
        statuses = [c.get("/model").status_code for _ in range(RATE + 2)]
        assert statuses[:RATE - 3] == [200] * (RATE - 3) and statuses[-1] == 429
        limited = c.get("/model")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert httpx.get(service.url + "/health").status_code == 200  # no token, no bucket


def test_repeated_failed_authentications_are_slowed_down(service):
    wrong = {"Authorization": "Bearer " + "w" * 32}
    statuses = [httpx.get(service.url + "/model", headers=wrong).status_code
                for _ in range(32)]
    assert statuses[:25] == [401] * 25 and statuses[-1] == 429

"""Schema-driven fuzzing of the HTTP API from its own /openapi.json (schemathesis).

Every operation is called with generated parameters, valid ones (within the documented bounds)
and invalid ones (outside them, wrong types, odd strings): no answer is a 5xx, every status is
one the description lists, every body and header matches the description of that status.
Article ids are also drawn from the index, so the 200 answers of the article routes are checked,
not only their 404s.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi import checks as oc  # noqa: E402

from search_service import create_app  # noqa: E402
from search_service.store import IndexStore  # noqa: E402

from .service import index_ids  # noqa: E402

EXAMPLES = 50  # per operation (5 operations), positive and negative
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

#: "No 500, responses match the schema". (Not run here: negative_data_rejection, see the test of empty
#: values below; positive_data_acceptance, since some limits cannot be written in OpenAPI: page * size
#: <= 10,000 and from <= to; unsupported_method, see test_hostile's 405 test.)
CHECKS = [
    not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_schema_conformance,
    oc.response_headers_conformance,
]

# The app reads its index directory at the first search, so the schema can be loaded now (the
# description needs no index) and the app pointed at the session's index by a fixture. (schemathesis'
# lazy ``from_fixture`` loader does not work with pytest 9.)
APP = create_app({"INDEX_DIR": "/nonexistent-index-set-by-a-fixture"})
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _app_on_the_test_index(index_store: IndexStore) -> None:
    """Point the fuzzed app at the session's shared (read-only) index."""
    APP.config["INDEX_DIR"] = str(index_store.root)
    APP.extensions.pop("search_engine", None)


@schema.parametrize()
@FUZZ
def test_api_matches_its_openapi_description(case) -> None:
    """No 5xx, documented statuses only, bodies and headers valid against the description."""
    case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize("route", ["/api/articles/{id}", "/api/articles/{id}/related"])
def test_article_routes_with_real_ids_match_the_schema(index_store: IndexStore, route: str) -> None:
    """The 200 answers of the article routes (generated ids are almost never real ones)."""
    op = schema[route]["GET"]

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(article_id=st.sampled_from(sorted(index_ids(index_store.root))), size=st.integers(1, 50))
    def check(article_id: str, size: int) -> None:
        query = {"size": size} if route.endswith("related") else {}
        response = op.Case(path_parameters={"id": article_id}, query=query).call_and_validate(checks=CHECKS)
        assert response.status_code == 200, (article_id, response.text[:300])

    check()


def test_empty_parameters_are_described_as_the_api_treats_them() -> None:
    """Each query parameter that accepts an empty value is described with allowEmptyValue."""
    client = APP.test_client()
    doc = client.get("/openapi.json").get_json()
    undocumented = []
    for path, item in doc["paths"].items():
        url = path.replace("{id}", "fx-1")
        for p in item["get"].get("parameters", []):
            accepted = p["in"] == "query" and client.get(f"{url}?{p['name']}=").status_code == 200
            if accepted and not p.get("allowEmptyValue"):
                undocumented.append(f"{path}?{p['name']}=")
    assert not undocumented, undocumented

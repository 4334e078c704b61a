"""Schema-driven fuzzing of the HTTP API from its own /openapi.json (schemathesis).

Every operation is called with generated parameters, valid ones (within the documented bounds)
and invalid ones (outside them, wrong types, odd strings): no answer is a 5xx, every status is
one the description lists, and every body matches the schema of that status. Article ids are
also drawn from the index, so the 200 answers of the article routes are checked, not only 404s.
"""

from __future__ import annotations

import pytest
from schemathesis.specs.openapi import checks as oc

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from search_service import create_app  # noqa: E402
from search_service.store import IndexStore  # noqa: E402

from .service import index_ids  # noqa: E402

EXAMPLES = 60  # per operation and phase; 5 operations


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
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_description(case) -> None:
    """No 5xx, documented statuses only, bodies valid against the schema."""
    case.call_and_validate(excluded_checks=[oc.unsupported_method])


@pytest.mark.parametrize("route", ["/api/articles/{id}", "/api/articles/{id}/related"])
def test_article_routes_with_real_ids_match_the_schema(index_store: IndexStore, route: str) -> None:
    """The 200 answers of the article routes (generated ids are almost never real ones)."""
    op = schema[route]["GET"]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(article_id=st.sampled_from(sorted(index_ids(index_store.root))), size=st.integers(1, 50))
    def check(article_id: str, size: int) -> None:
        query = {"size": size} if route.endswith("related") else {}
        response = op.Case(path_parameters={"id": article_id}, query=query).call_and_validate()
        assert response.status_code == 200, (article_id, response.text[:300])

    check()

"""The HTTP API contract: names, error shape, statuses, OpenAPI."""

from __future__ import annotations

from pathlib import Path

import pytest

from search_service import create_app

from .conftest import TTTD_PAGE

RESULT_KEYS = {"id", "url", "title", "title_html", "section", "published", "author", "tags", "snippet_html", "score"}


def test_search_contract(client):
    r = client.get("/api/search?q=binh+dang+gioi&size=5")
    assert r.status_code == 200
    data = r.get_json()
    assert set(data) == {"query", "total", "page", "size", "took_ms", "results", "facets", "suggestion", "partial"}
    assert data["partial"] is False
    assert data["query"] == "binh dang gioi" and data["size"] == 5 and data["page"] == 1
    assert data["results"] and all(set(h) == RESULT_KEYS for h in data["results"])
    assert set(data["facets"]) == {"section", "year"}
    assert "<mark>" in data["results"][0]["title_html"] + data["results"][0]["snippet_html"]


@pytest.mark.skipif(not TTTD_PAGE.exists(), reason="shared data not present")
def test_seed_page_found_by_api_with_filters(client):
    for q in ("bình đẳng giới", "binh dang gioi"):
        r = client.get(
            "/api/search", query_string={"q": q, "section": "Xã hội", "from": "2022-11-01", "to": "2022-11-30"}
        )
        hits = {h["id"]: h for h in r.get_json()["results"]}
        hit = hits["page:page-tttd-2022-11-14"]
        assert hit["section"] == "Xã hội" and hit["published"].startswith("2022-11-14")
        assert "<mark>bình đẳng giới</mark>" in hit["snippet_html"]


def test_repeated_section_and_tag_parameters(client):
    r = client.get("/api/search", query_string=[("section", "Xã hội"), ("section", "Thể thao"), ("sort", "newest")])
    sections = {h["section"] for h in r.get_json()["results"]}
    assert sections == {"Xã hội", "Thể thao"}
    r = client.get("/api/search", query_string={"tag": "AFF Cup"})
    assert [h["id"] for h in r.get_json()["results"]] == ["fx-2"]


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2022-02-30"},
        {"to": "hôm qua"},
        {"size": "1000"},
        {"size": "-1"},
        {"sort": "random"},
        {"page": "abc"},
        {"q": "x" * 10_000},
        {"from": "2022-12-01", "to": "2022-01-01"},
    ],
)
def test_bad_parameters_get_400_with_the_error_shape(client, query):
    r = client.get("/api/search", query_string=query)
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert set(err) >= {"code", "message"} and err["code"] == "bad_request" and err["message"]


def test_page_past_the_end_is_an_empty_page(client):
    data = client.get("/api/search?q=chó&page=150&size=50").get_json()
    assert data["results"] == [] and data["total"] > 0


def test_odd_queries_never_500(client):
    for q in [
        '"',
        "-",
        "title:",
        "OR",
        "tag:",
        '"unclosed',
        "<script>alert(1)</script>",
        "%00",
        "😀" * 50,
        ")(*&^%$#@!",
    ]:
        r = client.get("/api/search", query_string={"q": q})
        assert r.status_code == 200, q


def test_article_related_suggest(client):
    r = client.get("/api/articles/fx-1")
    assert r.status_code == 200 and r.get_json()["title"] == "Thúc đẩy bình đẳng giới trong gia đình"
    assert client.get("/api/articles/vntc/test/does-not-exist").status_code == 404
    assert client.get("/api/articles/nope").get_json()["error"]["code"] == "not_found"
    related = client.get("/api/articles/fx-1/related?size=3").get_json()
    assert 0 < len(related["results"]) <= 3 and all(set(h) == RESULT_KEYS for h in related["results"])
    assert client.get("/api/articles/fx-1/related?size=0").status_code == 400
    sugg = client.get("/api/suggest?q=th%C3%BAc+%C4%91").get_json()["suggestions"]
    assert any(s["id"] == "fx-1" for s in sugg)
    assert client.get("/api/suggest?q=" + "a" * 300).status_code == 400


def test_vntc_ids_with_slashes_and_spaces_work(client):
    hit = client.get("/api/search?q=th%E1%BB%8B+tr%C6%B0%E1%BB%9Dng&size=1").get_json()["results"][0]
    assert hit["id"].startswith("vntc/")
    r = client.get(f"/api/articles/{hit['id']}")
    assert r.status_code == 200 and r.get_json()["id"] == hit["id"]


def test_healthz(client):
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["articles"] >= 304 and data["schema_version"] >= 1


def test_missing_index_is_503_naming_the_command(tmp_path: Path):
    client = create_app({"INDEX_DIR": str(tmp_path / "none"), "TESTING": True}).test_client()
    for url in ("/healthz", "/api/search?q=x", "/api/articles/x", "/api/suggest?q=x"):
        r = client.get(url)
        assert r.status_code == 503, url
        assert "search-service index" in r.get_json()["error"]["message"]


def test_unknown_route_and_method(client):
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/nothing").get_json()["error"]["code"] == "not_found"
    assert client.post("/api/search").status_code == 405


def test_service_is_read_only(client, index_store):
    before = index_store.current_name(), client.get("/healthz").get_json()["articles"]
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/api/articles/fx-1").status_code == 405
    assert (index_store.current_name(), client.get("/healthz").get_json()["articles"]) == before


def test_openapi_describes_the_routes(client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/search",
        "/api/articles/{id}",
        "/api/articles/{id}/related",
        "/api/suggest",
        "/healthz",
    }
    params = {p["name"] for p in doc["paths"]["/api/search"]["get"]["parameters"]}
    assert params == {"q", "section", "tag", "author", "from", "to", "sort", "page", "size"}


def test_query_without_searchable_words_finds_nothing(client):
    for q in ("!!!", "...", "-", '""'):
        data = client.get("/api/search", query_string={"q": q}).get_json()
        assert data["total"] == 0 and data["results"] == [], q

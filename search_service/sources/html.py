"""HTML article pages as a crawler saves them: metadata from meta tags and JSON-LD, text from the page.

Field sources, first found wins:

* title: ``og:title``, JSON-LD ``headline``/``name``, the first ``<h1>``, ``<title>``.
* url: ``og:url``, ``<link rel="canonical">``, JSON-LD ``url``/``mainEntityOfPage``.
* id: ``article:id`` (or ``article:content_id``, ``article_id``), JSON-LD ``identifier``; otherwise the
  canonical URL (the url above); otherwise the caller's fallback (``page:<file stem>``).
* section: ``article:section``, JSON-LD ``articleSection``.
* published: ``article:published_time``, JSON-LD ``datePublished``, ``itemprop=datePublished``, ``pubdate``,
  then modification times (``og:updated_time``, ``article:modified_time``, JSON-LD ``dateModified``).
* author: ``<meta name="author">``, ``article:author`` (unless it is a profile URL), JSON-LD ``author``.
* tags: every ``article:tag``; else JSON-LD ``keywords``; else ``<meta name="keywords">``/``news_keywords``.
* summary: ``og:description``, ``<meta name="description">``, ``twitter:description``, JSON-LD
  ``description``.
* body: the ``<article>`` element (the one with the most text), else ``[itemprop=articleBody]``, else JSON-LD
  ``articleBody``, else ``<main>``, else ``<body>``; scripts, navigation, asides, figures and their captions,
  headers, footers and forms are removed; one paragraph per line.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag

from search_service.normalize import html_to_text

ARTICLE_TYPES = frozenset(
    t.casefold()
    for t in (
        "NewsArticle",
        "Article",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "BackgroundNewsArticle",
        "ReviewNewsArticle",
        "BlogPosting",
        "LiveBlogPosting",
        "Report",
        "TechArticle",
    )
)

#: Page furniture removed from the body together with its content.
BODY_NOISE = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "figure",
    "figcaption",
    "footer",
    "header",
    "form",
    "button",
    "iframe",
    "svg",
    "select",
    "textarea",
    "object",
    "embed",
    "video",
    "audio",
    "canvas",
]


def _first(*values: object) -> str | None:
    """The first value that is a non-blank string."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _ld_objects(value: object) -> Iterator[dict]:
    """Every JSON-LD object in a decoded script: top level, lists and @graph, depth first."""
    stack = [value]
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack[:0] = item
        elif isinstance(item, dict):
            yield item
            graph = item.get("@graph")
            if isinstance(graph, list):
                stack[:0] = graph


def _is_article(obj: dict) -> bool:
    """Whether a JSON-LD object's @type is an article type."""
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and k.casefold() in ARTICLE_TYPES for k in kinds)


def find_json_ld_article(soup: BeautifulSoup) -> dict:
    """The first JSON-LD NewsArticle/Article object of the page, or {}."""
    for script in soup.find_all("script"):
        kind = (script.get("type") or "").strip().casefold()
        if kind != "application/ld+json":
            continue
        text = script.string if script.string is not None else script.get_text()
        try:
            decoded = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            continue
        for obj in _ld_objects(decoded):
            if _is_article(obj):
                return obj
    return {}


def _ld_name(value: object) -> str | None:
    """A JSON-LD value as text: a string, or the name/value of an object."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        return _first(value.get("name"), value.get("@value"), value.get("value"))
    return None


def _ld_first(value: object) -> str | None:
    """The first usable text of a JSON-LD value that may be a list."""
    for item in value if isinstance(value, list) else [value]:
        text = _ld_name(item)
        if text:
            return text
    return None


def _ld_identifier(value: object) -> str | None:
    """A JSON-LD identifier: a string or number, a PropertyValue, or a list of those."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            item = item.get("value", item.get("@value"))
        text = _ld_name(item)
        if text:
            return text
    return None


def _ld_authors(value: object) -> str | None:
    """JSON-LD author(s) as one string, names joined by ", "."""
    names = [_ld_name(item) for item in (value if isinstance(value, list) else [value])]
    joined = ", ".join(n for n in names if n)
    return joined or None


def _ld_keywords(value: object) -> list[str]:
    """JSON-LD keywords: a comma-separated string or a list."""
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    if isinstance(value, list):
        return [k for k in (_ld_name(item) for item in value) if k]
    return []


def _ld_url(value: object) -> str | None:
    """A JSON-LD URL: a string or an object with @id/url."""
    if isinstance(value, dict):
        return _first(value.get("@id"), value.get("url"))
    return _first(value)


def _meta_index(soup: BeautifulSoup) -> dict[str, list[str]]:
    """Contents of the page's <meta> tags by lowercased property, name or itemprop, in page order."""
    index: dict[str, list[str]] = {}
    for meta in soup.find_all("meta"):
        content = meta.get("content")
        if not isinstance(content, str) or not content.strip():
            continue
        for attr in ("property", "name", "itemprop"):
            key = meta.get(attr)
            if isinstance(key, str) and key.strip():
                index.setdefault(key.strip().casefold(), []).append(content.strip())
    return index


def _element_text(element: Tag | None) -> str | None:
    """Single-line visible text of an element."""
    if element is None:
        return None
    return " ".join(element.get_text(" ").split()) or None


def _canonical_link(soup: BeautifulSoup) -> str | None:
    """The href of <link rel="canonical">."""
    for link in soup.find_all("link"):
        rel = link.get("rel") or []
        rels = rel if isinstance(rel, list) else rel.split()
        if "canonical" in (r.casefold() for r in rels):
            return _first(link.get("href"))
    return None


def _body_element(soup: BeautifulSoup) -> Tag | None:
    """The element holding the article text: <article>, else [itemprop=articleBody]."""
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text()))
    return soup.find(attrs={"itemprop": "articleBody"})


def _body_text(element: Tag, title: str | None) -> str:
    """Article text of an element without page furniture, one paragraph per line."""
    for noise in element.find_all(BODY_NOISE):
        noise.decompose()
    if title:
        for heading in element.find_all("h1"):
            if " ".join(heading.get_text(" ").split()) == " ".join(title.split()):
                heading.decompose()
    return html_to_text(element)


def parse_html_page(text: str, fallback_id: str) -> dict:
    """Raw article fields of an HTML page, with the same keys as the JSON format."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    meta = _meta_index(soup)

    def first_meta(*keys: str) -> str | None:
        """The first meta content under any of these keys."""
        for key in keys:
            if meta.get(key):
                return meta[key][0]
        return None

    ld = find_json_ld_article(soup)
    title = _first(
        first_meta("og:title"),
        _ld_first(ld.get("headline")),
        _ld_first(ld.get("name")),
        _element_text(soup.find("h1")),
        _element_text(soup.find("title")),
    )
    url = _first(
        first_meta("og:url"),
        _canonical_link(soup),
        _ld_url(ld.get("url")),
        _ld_url(ld.get("mainEntityOfPage")),
    )
    page_id = _first(first_meta("article:id", "article:content_id", "article_id"), _ld_identifier(ld.get("identifier")))
    meta_author = first_meta("author")
    og_author = first_meta("article:author")
    if og_author and og_author.startswith(("http://", "https://")):
        og_author = None
    tags = meta.get("article:tag") or _ld_keywords(ld.get("keywords"))
    if not tags:
        tags = _ld_keywords(first_meta("keywords", "news_keywords"))

    body_element = _body_element(soup)
    ld_body = _ld_first(ld.get("articleBody"))
    if body_element is None and ld_body:
        body = ld_body
    else:
        body_element = body_element or soup.find("main") or soup.find("body") or soup
        body = _body_text(body_element, title)
    return {
        "id": page_id or url or fallback_id,
        "url": url,
        "title": title,
        "section": _first(first_meta("article:section"), _ld_first(ld.get("articleSection"))),
        "published": _first(
            first_meta("article:published_time"),
            _ld_first(ld.get("datePublished")),
            first_meta("datepublished", "pubdate", "publishdate"),
            first_meta("og:updated_time", "article:modified_time"),
            _ld_first(ld.get("dateModified")),
        ),
        "author": _first(meta_author, og_author, _ld_authors(ld.get("author"))),
        "tags": list(tags),
        "summary": _first(
            first_meta("og:description", "description", "twitter:description"),
            _ld_first(ld.get("description")),
        ),
        "body": body,
    }

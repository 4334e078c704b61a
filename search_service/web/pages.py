"""The server-rendered pages: the search page (/) and an article page, in Vietnamese, no JS needed.

The search page takes the API's query parameters (q, section, tag, author, from, to, sort, page,
size), so every results page has a URL that can be shared. Everything the templates show is
prepared here as plain values; article text is escaped by Jinja, and only the fragments built
by highlight.py (already escaped, with <mark> added) are marked safe, by the ``marked`` filter.

Bad parameters give a 400 page with a Vietnamese message and the form, kept as far as it is
valid; an index that is missing, of another schema or unreadable gives a 503 page naming the
command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, render_template, request, url_for
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from ..articles import HANOI
from ..errors import ArticleNotFound, BadQuery, IndexCorrupt, IndexMissing, SchemaMismatch
from ..query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_QUERY_CHARS, MAX_RESULT_WINDOW, SearchRequest, parse_request
from ..schema import key
from . import engine
from .api import search_request_from_args

bp = Blueprint("pages", __name__)

SORT_LABELS = {"relevance": "Liên quan nhất", "newest": "Mới nhất", "oldest": "Cũ nhất"}
MIN_YEAR, MAX_YEAR = 1900, 2100  # a year facet outside this is a missing date, not a year
PAGE_LINKS_AROUND = 2  # page links shown on each side of the current page
RELATED_ON_PAGE = 5

#: The form field that a bad parameter belongs to (for aria-invalid and the error link).
FIELD_OF_PARAM = {"q": "q", "section": "section", "from": "from", "to": "to", "sort": "sort"}


# -- template filters ----------------------------------------------------------------------------


@bp.app_template_filter("vndate")
def vndate(value: str | datetime | date | None, with_time: bool = True) -> str:
    """An ISO date or datetime -> dd/mm/yyyy HH:MM in Hanoi time (a time without zone is Hanoi time)."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    elif isinstance(value, datetime):
        moment = value
    else:
        return value.strftime("%d/%m/%Y")
    moment = moment.replace(tzinfo=HANOI) if moment.tzinfo is None else moment.astimezone(HANOI)
    return moment.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


@bp.app_template_filter("vnnum")
def vnnum(value: int) -> str:
    """A count the Vietnamese way: 12.345 (a dot between thousands)."""
    return f"{int(value):,}".replace(",", ".")


@bp.app_template_filter("marked")
def marked(fragment: str | None) -> Markup:
    """Fragments built by highlight.py are already escaped, with only <mark> added: mark them safe.

    Use it on ``title_html`` and ``snippet_html`` only; anything else is escaped by Jinja as usual.
    """
    return Markup(fragment or "")


# -- URLs ----------------------------------------------------------------------------------------


def search_url(req: SearchRequest, **changes: object) -> str:
    """The search page's URL for ``req`` with some fields changed (a changed filter goes to page 1)."""
    if changes and "page" not in changes:
        changes["page"] = 1
    params = req.replace(**changes).to_params() if changes else req.to_params()
    if not params.get("q"):
        params.pop("q", None)
    query = urlencode(params, doseq=True)
    return url_for("pages.search_page") + (f"?{query}" if query else "")


def article_url(article_id: str) -> str:
    """The article page of an id (quoted: ids may hold spaces, '?' or '#')."""
    return url_for("pages.article_page", article_id=article_id)


def safe_link(url: str | None) -> str | None:
    """An article's original URL if it is an absolute http(s) URL, else None (no javascript: links)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


# -- bad parameters ------------------------------------------------------------------------------


@dataclass
class Problem:
    """A bad parameter: the form field it belongs to and what to tell the reader."""

    param: str
    field: str | None
    message: str


def _as_date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def describe_bad_query(exc: BadQuery, args: MultiDict) -> Problem:
    """The Vietnamese message for a parameter parse_request refused."""
    param = exc.param
    raw = (args.get(param) or "").strip()
    if param in ("from", "to"):
        start, end = _as_date(args.get("from", "")), _as_date(args.get("to", ""))
        if start and end and start > end:
            message = (
                f"Ngày bắt đầu ({start:%d/%m/%Y}) ở sau ngày kết thúc ({end:%d/%m/%Y}). Hãy chọn lại khoảng thời gian."
            )
        else:
            which = "bắt đầu" if param == "from" else "kết thúc"
            message = (
                f"Ngày {which} «{raw[:40]}» không hợp lệ. Hãy nhập ngày theo dạng năm-tháng-ngày, ví dụ 2022-11-14."
            )
    elif param == "q":
        if "\x00" in (args.get("q") or ""):
            message = "Từ khóa chứa ký tự không hợp lệ."
        else:
            message = f"Từ khóa quá dài: tối đa {vnnum(MAX_QUERY_CHARS)} ký tự."
    elif param == "sort":
        message = f"Cách sắp xếp «{raw[:40]}» không hợp lệ. Hãy chọn: " + ", ".join(SORT_LABELS.values()) + "."
    elif param == "size":
        message = f"Số kết quả mỗi trang phải là số nguyên từ 1 đến {MAX_PAGE_SIZE}."
    elif param == "page":
        size = _as_int(args.get("size"), DEFAULT_PAGE_SIZE)
        size = size if 1 <= size <= MAX_PAGE_SIZE else DEFAULT_PAGE_SIZE
        message = f"Số trang phải là số nguyên từ 1 đến {vnnum(MAX_RESULT_WINDOW // size)}."
    else:
        names = {"section": "chuyên mục", "tag": "từ khóa chủ đề (tag)", "author": "tác giả"}
        name = names.get(param, f"tham số «{param}»")
        message = f"Bộ lọc {name} không hợp lệ: tối đa 20 giá trị, mỗi giá trị tối đa 200 ký tự."
    return Problem(param, FIELD_OF_PARAM.get(param), message)


def _as_int(raw: str | None, default: int) -> int:
    try:
        return int((raw or "").strip())
    except ValueError:
        return default


def lenient_request(args: MultiDict) -> SearchRequest:
    """The request with its bad parameters left out (to show the form as the reader left it)."""
    single = args.to_dict(flat=True)
    multi = {"section": args.getlist("section"), "tag": args.getlist("tag")}
    single["q"] = " ".join((single.get("q") or "").replace("\x00", " ").split())[:MAX_QUERY_CHARS]
    start, end = _as_date(args.get("from", "")), _as_date(args.get("to", ""))
    swapped = bool(start and end and start > end)
    if swapped:  # both dates are fine on their own: show them as typed, the message says what to fix
        single.pop("from", None)
        single.pop("to", None)
    for _ in range(len(single) + len(multi) + 1):
        try:
            req = parse_request(single, multi)
            return req.replace(date_from=start, date_to=end) if swapped else req
        except BadQuery as exc:
            single.pop(exc.param, None)
            multi.pop(exc.param, None)
    return SearchRequest(q=single["q"])


# -- the view model ------------------------------------------------------------------------------


@dataclass
class FacetLink:
    """One facet value: its label, count, and the link that applies it (or removes it when active)."""

    label: str
    count: int
    url: str
    active: bool


@dataclass
class Chip:
    """An active filter and the link that removes it."""

    label: str
    value: str
    remove_url: str


@dataclass
class PageLink:
    """One link of the pagination (number None: an ellipsis)."""

    number: int | None
    url: str = ""
    current: bool = False


def _year_range(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def section_options(known: Iterable[str], req: SearchRequest) -> list[tuple[str, bool]]:
    """The sections for the form's list, in alphabetical order, each with whether it is selected."""
    wanted = {key(s) for s in req.sections}
    names = {key(s): s for s in known}
    for s in req.sections:  # a section asked for but absent from the index still shows, selected
        names.setdefault(key(s), s)
    return [(name, k in wanted) for k, name in sorted(names.items())]


def section_facets(counts: dict[str, int], req: SearchRequest) -> list[FacetLink]:
    """Section facet links: apply one section, or remove it when it is the active filter."""
    wanted = {key(s) for s in req.sections}
    out = []
    for name, n in counts.items():
        active = key(name) in wanted
        remaining = tuple(s for s in req.sections if key(s) != key(name))
        out.append(FacetLink(name, n, search_url(req, sections=remaining if active else (name,)), active))
    return out


def year_facets(counts: dict[str, int], req: SearchRequest) -> list[FacetLink]:
    """Year facet links: the whole year as the date range, or no date range when it is the active one."""
    out = []
    for label, n in counts.items():
        try:
            year = int(label)
        except ValueError:
            continue
        if not MIN_YEAR <= year <= MAX_YEAR:
            continue  # articles without a date are counted under a sentinel value
        first, last = _year_range(year)
        active = (req.date_from, req.date_to) == (first, last)
        span = (None, None) if active else (first, last)
        link = search_url(req, date_from=span[0], date_to=span[1])
        out.append(FacetLink(str(year), n, link, active))
    return sorted(out, key=lambda f: f.label, reverse=True)


def active_filters(req: SearchRequest) -> list[Chip]:
    """The filters in force, each with a link that removes it."""
    chips = [
        Chip("Chuyên mục", s, search_url(req, sections=tuple(x for x in req.sections if x != s))) for s in req.sections
    ]
    chips += [Chip("Chủ đề", t, search_url(req, tags=tuple(x for x in req.tags if x != t))) for t in req.tags]
    if req.author:
        chips.append(Chip("Tác giả", req.author, search_url(req, author=None)))
    if req.date_from or req.date_to:
        if req.date_from and req.date_to:
            span = f"{req.date_from:%d/%m/%Y} – {req.date_to:%d/%m/%Y}"
        elif req.date_from:
            span = f"từ {req.date_from:%d/%m/%Y}"
        else:
            span = f"đến {req.date_to:%d/%m/%Y}"
        chips.append(Chip("Thời gian", span, search_url(req, date_from=None, date_to=None)))
    return chips


def pagination(req: SearchRequest, last_page: int) -> list[PageLink]:
    """Page links: the first, the last, and a few around the current one, with ellipses between."""
    numbers = {1, last_page, *range(req.page - PAGE_LINKS_AROUND, req.page + PAGE_LINKS_AROUND + 1)}
    links: list[PageLink] = []
    previous = 0
    for n in sorted(x for x in numbers if 1 <= x <= last_page):
        if n > previous + 1:
            links.append(PageLink(None))
        links.append(PageLink(n, search_url(req, page=n), n == req.page))
        previous = n
    return links


def has_filters(req: SearchRequest) -> bool:
    """Whether the request narrows the articles at all (then there are results to show)."""
    return bool(req.sections or req.tags or req.author or req.date_from or req.date_to)


# -- views ---------------------------------------------------------------------------------------


@bp.get("/")
def search_page():
    """The search page: box, filters, results, facets, pagination."""
    eng = engine()
    overview = eng.search(SearchRequest(size=1))  # every article: the section list and the count
    problem = None
    try:
        req = search_request_from_args()
    except BadQuery as exc:
        problem = describe_bad_query(exc, request.args)
        req = lenient_request(request.args)
    result = None
    if problem is None and (req.q or has_filters(req)):
        result = eng.search(req)
    last_page = 1
    if result is not None:
        last_page = max(1, min(-(-result.total // req.size), MAX_RESULT_WINDOW // req.size))
    context = {
        "req": req,
        "result": result,
        "problem": problem,
        "overview": overview,
        "sections": section_options(overview.facets.get("section", {}), req),
        "sort_labels": SORT_LABELS,
        "default_size": DEFAULT_PAGE_SIZE,
        "chips": active_filters(req),
        "clear_url": search_url(req, sections=(), tags=(), author=None, date_from=None, date_to=None),
        "browse_sections": section_facets(overview.facets.get("section", {}), SearchRequest()),
        "section_facets": section_facets(result.facets.get("section", {}), req) if result else [],
        "year_facets": year_facets(result.facets.get("year", {}), req) if result else [],
        "pages": pagination(req, last_page) if result and last_page > 1 else [],
        "last_page": last_page,
        "prev_url": search_url(req, page=req.page - 1) if result and 1 < req.page <= last_page else None,
        "next_url": search_url(req, page=req.page + 1) if result and req.page < last_page else None,
        "first_url": search_url(req, page=1),
        "suggestion_url": search_url(req, q=result.suggestion) if result and result.suggestion else None,
        "article_url": article_url,
        "safe_link": safe_link,
        "section_url": lambda name: search_url(req, sections=(name,)),
    }
    return render_template("search.html", **context), 400 if problem else 200


@bp.get("/articles/<id:article_id>")
def article_page(article_id: str):
    """One article in full, with related coverage."""
    eng = engine()
    article = eng.get(article_id)
    related = eng.related(article_id, RELATED_ON_PAGE)
    data = article.to_dict()
    return render_template(
        "article.html",
        article=data,
        paragraphs=[p for p in data["body"].split("\n") if p.strip()],
        original_url=safe_link(data["url"]),
        related=related,
        article_url=article_url,
        section_url=lambda name: search_url(SearchRequest(), sections=(name,)),
        tag_url=lambda tag: search_url(SearchRequest(), tags=(tag,)),
    )


# -- errors of these pages (the API keeps its JSON errors) ---------------------------------------


def _error_page(status: int, title: str, message: str, command: str | None = None):
    html = render_template("error.html", status=status, title=title, message=message, command=command)
    headers = {"Retry-After": "30"} if status == 503 else {}
    return html, status, headers


@bp.errorhandler(IndexMissing)
def index_missing(exc: IndexMissing):
    """No index yet: say which command builds it."""
    return _error_page(
        503,
        "Chưa có dữ liệu để tìm kiếm",
        "Dịch vụ chưa có chỉ mục tìm kiếm. Người quản trị cần tạo chỉ mục từ các bài báo bằng lệnh:",
        f"search-service index PATH --index-dir {exc.index_dir}",
    )


@bp.errorhandler(SchemaMismatch)
def schema_mismatch(exc: SchemaMismatch):
    """An index of another schema version: it must be rebuilt."""
    return _error_page(
        503,
        "Cần tạo lại chỉ mục tìm kiếm",
        "Chỉ mục hiện có được tạo bởi phiên bản khác của chương trình. Người quản trị cần tạo lại bằng lệnh:",
        f"search-service reindex PATH --index-dir {exc.index_dir}",
    )


@bp.errorhandler(IndexCorrupt)
def index_corrupt(exc: IndexCorrupt):
    """An index that cannot be read: it must be rebuilt."""
    return _error_page(
        503,
        "Không đọc được chỉ mục tìm kiếm",
        "Chỉ mục tìm kiếm bị hỏng hoặc đang được thay thế. Hãy thử lại sau ít phút; "
        "nếu lỗi vẫn còn, người quản trị cần tạo lại bằng lệnh:",
        f"search-service reindex PATH --index-dir {exc.index_dir}",
    )


@bp.errorhandler(ArticleNotFound)
def article_not_found(exc: ArticleNotFound):
    """An article id that is not (or no longer) in the index."""
    return _error_page(
        404,
        "Không tìm thấy bài viết",
        "Bài viết này không có trong chỉ mục (có thể đã bị gỡ). Hãy tìm lại từ trang tìm kiếm.",
    )

"""The server-rendered search page (/) and article page, through Flask's test client.

A throwaway index is built once from a few hand-written Vietnamese articles: three on gender
equality in "Xã hội" (November 2022), one in "Kinh tế" (2023), one without a date, and one whose
text holds markup characters, which must reach the reader escaped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from search_service import create_app
from search_service.indexer import ingest
from search_service.sources import read_paths
from search_service.store import IndexStore
from search_service.web.pages import vndate, vnnum

ARTICLES = [
    {
        "id": "xh/binh-dang-gioi-1",
        "url": "https://tuoitrethudo.example.vn/xa-hoi/binh-dang-gioi-1.html",
        "title": "Hà Nội phát động Tháng hành động vì bình đẳng giới",
        "section": "Xã hội",
        "published": "2022-11-14T12:48:00+07:00",
        "author": "Lam Dương",
        "tags": ["bình đẳng giới", "phụ nữ"],
        "summary": "UBND thành phố Hà Nội phát động Tháng hành động vì bình đẳng giới năm 2022.",
        "body": (
            "Sáng 14/11, tại thị xã Sơn Tây, UBND thành phố Hà Nội đã tổ chức lễ phát động Tháng hành động "
            "vì bình đẳng giới và phòng ngừa, ứng phó với bạo lực trên cơ sở giới.\n"
            "Các chỉ tiêu về bình đẳng giới đều đạt và vượt mức so với kế hoạch thành phố đề ra."
        ),
    },
    {
        "id": "xh/binh-dang-gioi-2",
        "title": "Nâng cao nhận thức về bình đẳng giới trong trường học",
        "section": "Xã hội",
        "published": "2022-11-25T09:15:00+07:00",
        "author": "Minh Anh",
        "body": "Nhiều trường học tại Hà Nội đưa nội dung bình đẳng giới vào giờ sinh hoạt lớp.",
    },
    {
        "id": "xh/binh-dang-gioi-3",
        "title": "Phụ nữ vùng cao và câu chuyện bình đẳng giới",
        "section": "Xã hội",
        "published": "2022-11-05T07:00:00+07:00",
        "body": "Ở các bản vùng cao, phụ nữ ngày càng tham gia nhiều hơn vào công việc chung, góp phần bình đẳng giới.",
    },
    {
        "id": "kt/gia-vang",
        "url": "javascript:alert(1)",
        "title": "Giá vàng tăng mạnh đầu tuần",
        "section": "Kinh tế",
        "published": "2023-03-13T08:00:00+07:00",
        "author": "Hải Yến",
        "body": "Sáng 13/3, giá vàng SJC tăng mạnh. Giới đầu tư thận trọng trước biến động của thị trường.",
    },
    {
        "id": "vh/khong-ngay",
        "title": "Triển lãm tranh sơn mài tại Văn Miếu",
        "section": "Văn hóa",
        "body": "Triển lãm giới thiệu hơn 50 tác phẩm sơn mài của các họa sĩ trẻ.",
    },
    {
        # Entities, not tags: normalisation decodes them, so the stored text holds a literal
        # "<script>" (and "a < b && c > d"), which the page must show escaped.
        "id": "cn/ma-doc",
        "title": "Cảnh báo mã độc &lt;script&gt;alert(1)&lt;/script&gt; trên trang tin",
        "section": "Công nghệ",
        "published": "2022-10-02T10:00:00+07:00",
        "body": (
            "Chuyên gia bảo mật cảnh báo đoạn mã &lt;script&gt;alert(1)&lt;/script&gt; chèn vào trang tin. "
            "Điều kiện a &lt; b &amp;&amp; c &gt; d luôn đúng với kẻ tấn công."
        ),
    },
]

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def page_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the articles above."""
    root = tmp_path_factory.mktemp("page-index")
    source = root / "articles.jsonl"
    source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES) + "\n", encoding="utf-8")
    index_dir = root / "index"
    report = ingest(IndexStore(index_dir), read_paths([str(source)]), jobs=1)
    assert report.indexed == len(ARTICLES), report.rejections
    return index_dir


@pytest.fixture(scope="module")
def page_client(page_index: Path):
    """A test client of an app serving that index."""
    app = create_app({"INDEX_DIR": str(page_index), "TESTING": True})
    return app.test_client()


def get(client, url: str, status: int = 200) -> BeautifulSoup:
    """GET a page, check its status and that it is a Vietnamese HTML page; return it parsed."""
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "Traceback" not in html
    soup = BeautifulSoup(html, "html.parser")
    assert soup.html["lang"] == "vi"
    return soup


def hits(soup: BeautifulSoup) -> list:
    """The result items of a results page."""
    return soup.select("ol.hits > li.hit")


def hit_ids(soup: BeautifulSoup) -> list[str]:
    """The article ids of the results, in order (from the links to the article pages)."""
    ids = []
    for hit in hits(soup):
        href = hit.h2.a["href"]
        assert href.startswith("/articles/")
        ids.append(urlsplit(href).path.removeprefix("/articles/"))
    return ids


def hit_by_id(soup: BeautifulSoup, article_id: str):
    """The result item of one article."""
    for hit in hits(soup):
        if hit.h2.a["href"] == f"/articles/{article_id}":
            return hit
    raise AssertionError(f"{article_id} not among {hit_ids(soup)}")


def marks(element) -> list[str]:
    """Texts of the <mark> elements inside an element."""
    return [m.get_text() for m in element.find_all("mark")]


def query_of(href: str) -> dict[str, list[str]]:
    """A link's query parameters."""
    parts = urlsplit(href)
    assert parts.path == "/"
    return parse_qs(parts.query)


# -- the form ------------------------------------------------------------------------------------


def test_home_page_has_a_labelled_form_and_no_results(page_client):
    soup = get(page_client, "/")
    form = soup.find("form", attrs={"role": "search"})
    assert form["method"] == "get" and form["action"] == "/"
    fields = [f for f in form.find_all(["input", "select"]) if f.get("type") != "hidden"]
    assert {f["name"] for f in fields} == {"q", "section", "from", "to", "sort"}
    for f in fields:
        label = soup.find("label", attrs={"for": f["id"]})
        assert label is not None and label.get_text(strip=True), f"no label for {f['name']}"
    assert form.find("button", attrs={"type": "submit"}).get_text(strip=True) == "Tìm kiếm"
    assert soup.h1.get_text(strip=True)
    assert not hits(soup)
    assert "Tìm trong 6 bài viết" in soup.get_text(" ", strip=True)
    sections = [o["value"] for o in soup.select("#section option")]
    assert sections[0] == "" and set(sections[1:]) == {"Xã hội", "Kinh tế", "Văn hóa", "Công nghệ"}
    assert soup.find("link", rel="stylesheet")["href"] == "/static/style.css"
    assert soup.find("meta", attrs={"name": "viewport"})
    assert not soup.find("script"), "the page needs no JavaScript"


def test_stylesheet_is_served_with_focus_styles_and_a_phone_layout(page_client):
    resp = page_client.get("/static/style.css")
    assert resp.status_code == 200
    css = resp.get_data(as_text=True)
    assert ":focus-visible" in css and "outline" in css
    assert "@media (max-width" in css


# -- searching -----------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["bình đẳng giới", "binh dang gioi", "BÌNH ĐẲNG GIỚI"])
def test_query_with_or_without_diacritics_marks_the_accented_words(page_client, q):
    soup = get(page_client, "/?" + f"q={q}")
    assert soup.select_one("#q")["value"] == q
    ids = hit_ids(soup)
    assert {"xh/binh-dang-gioi-1", "xh/binh-dang-gioi-2", "xh/binh-dang-gioi-3"} <= set(ids)
    hit = hit_by_id(soup, "xh/binh-dang-gioi-1")
    assert marks(hit.h2) == ["bình đẳng giới"]
    assert "bình đẳng giới" in marks(hit.select_one(".snippet"))
    summary = soup.select_one("h1#summary").get_text(" ", strip=True)
    assert re.match(r"Tìm thấy \d+ kết quả cho «", summary), summary
    assert q in summary
    assert soup.title.get_text().startswith(q)


def test_result_shows_section_date_in_hanoi_time_and_author(page_client):
    soup = get(page_client, "/?q=bình+đẳng+giới")
    meta = hit_by_id(soup, "xh/binh-dang-gioi-1").select_one(".meta")
    text = meta.get_text(" ", strip=True)
    assert "Xã hội" in text and "Lam Dương" in text
    assert meta.time.get_text() == "14/11/2022 12:48"
    assert meta.time["datetime"] == "2022-11-14T12:48:00+07:00"
    section_link = meta.select_one(".section a")["href"]
    assert query_of(section_link) == {"q": ["bình đẳng giới"], "section": ["Xã hội"]}


def test_dates_and_counts_are_written_the_vietnamese_way():
    assert vndate("2022-11-14T05:48:00+00:00") == "14/11/2022 12:48"  # UTC -> Hanoi
    assert vndate("2022-11-14T12:48:00") == "14/11/2022 12:48"  # no zone: Hanoi time
    assert vndate("2022-11-14T12:48:00+07:00", False) == "14/11/2022"
    assert vndate(None) == ""
    assert vnnum(5) == "5" and vnnum(1234) == "1.234" and vnnum(1234567) == "1.234.567"


def test_section_date_filters_and_sort_are_reflected_in_form_and_results(page_client):
    url = "/?q=binh+dang+gioi&section=Xã+hội&from=2022-11-10&to=2022-11-30&sort=newest"
    soup = get(page_client, url)
    assert [o["value"] for o in soup.select("#section option[selected]")] == ["Xã hội"]
    assert soup.select_one("#from")["value"] == "2022-11-10"
    assert soup.select_one("#to")["value"] == "2022-11-30"
    assert soup.select_one("#sort option[selected]")["value"] == "newest"
    # 2022-11-05 is outside the range; newest first.
    assert hit_ids(soup) == ["xh/binh-dang-gioi-2", "xh/binh-dang-gioi-1"]
    for hit in hits(soup):
        assert hit.select_one(".meta .section").get_text(strip=True).endswith("Xã hội")
    chips = soup.select(".chips li")
    chip_text = " ".join(c.get_text(" ", strip=True) for c in chips)
    assert "Chuyên mục: Xã hội" in chip_text and "10/11/2022 – 30/11/2022" in chip_text
    time_chip = next(c for c in chips if "Thời gian" in c.get_text())
    assert query_of(time_chip.a["href"]) == {"q": ["binh dang gioi"], "section": ["Xã hội"], "sort": ["newest"]}

    oldest = get(page_client, url.replace("newest", "oldest"))
    assert hit_ids(oldest) == ["xh/binh-dang-gioi-1", "xh/binh-dang-gioi-2"]


def test_filters_without_a_query_list_the_section(page_client):
    soup = get(page_client, "/?section=Kinh+t%E1%BA%BF")
    assert hit_ids(soup) == ["kt/gia-vang"]
    assert "Tìm thấy 1 kết quả" in soup.select_one("h1#summary").get_text(" ", strip=True)


def test_several_sections_stay_selected(page_client):
    soup = get(page_client, "/?q=gioi&section=Xã+hội&section=Kinh+tế&size=1")
    select = soup.select_one("#section")
    assert select.has_attr("multiple")
    assert {o["value"] for o in select.select("option[selected]")} == {"Xã hội", "Kinh tế"}
    nxt = soup.find("a", rel="next")
    assert query_of(nxt["href"])["section"] == ["Xã hội", "Kinh tế"]


def test_facets_count_sections_and_years_and_link_with_the_filters_kept(page_client):
    soup = get(page_client, "/?q=giới&sort=newest")
    facets = soup.select_one("aside.facets")
    sections = {a.get_text(" ", strip=True): a["href"] for a in facets.select("ul")[0].find_all("a")}
    assert "Xã hội (3)" in sections
    assert query_of(sections["Xã hội (3)"]) == {"q": ["giới"], "section": ["Xã hội"], "sort": ["newest"]}
    years = {a.get_text(" ", strip=True): a["href"] for a in facets.select("ul")[1].find_all("a")}
    assert "2022 (3)" in years
    assert all(re.fullmatch(r"\d{4} \(\d+\)", label) for label in years), years  # no sentinel for "no date"
    assert query_of(years["2022 (3)"]) == {
        "q": ["giới"],
        "from": ["2022-01-01"],
        "to": ["2022-12-31"],
        "sort": ["newest"],
    }
    # The active year links back to no date range.
    active = get(page_client, years["2022 (3)"])
    link = active.select_one("aside.facets a.active[aria-current]")
    assert link.get_text(" ", strip=True).startswith("✓ 2022")
    assert query_of(link["href"]) == {"q": ["giới"], "sort": ["newest"]}


def test_pagination_links_keep_every_filter(page_client):
    url = "/?q=binh+dang+gioi&section=Xã+hội&from=2022-11-01&to=2022-11-30&sort=oldest&size=2"
    soup = get(page_client, url)
    assert hit_ids(soup) == ["xh/binh-dang-gioi-3", "xh/binh-dang-gioi-1"]
    nav = soup.find("nav", attrs={"aria-label": "Phân trang"})
    assert nav.find("a", attrs={"aria-current": "page"}).get_text() == "1"
    nxt = nav.find("a", rel="next")
    expected = {
        "q": ["binh dang gioi"],
        "section": ["Xã hội"],
        "from": ["2022-11-01"],
        "to": ["2022-11-30"],
        "sort": ["oldest"],
        "size": ["2"],
    }
    assert query_of(nxt["href"]) == {**expected, "page": ["2"]}
    assert soup.find("input", attrs={"type": "hidden", "name": "size"})["value"] == "2"

    page2 = get(page_client, nxt["href"])
    assert hit_ids(page2) == ["xh/binh-dang-gioi-2"]
    assert page2.find("ol", class_="hits")["start"] == "3"
    prev = page2.find("a", rel="prev")
    assert query_of(prev["href"]) == expected
    assert page2.find("a", rel="next") is None
    assert "Kết quả 3–3, trang 2/2" in page2.get_text(" ", strip=True)


def test_tag_and_author_filters_are_kept_by_the_form(page_client):
    soup = get(page_client, "/?q=giới&tag=phụ+nữ&author=Lam+Dương")
    assert hit_ids(soup) == ["xh/binh-dang-gioi-1"]
    hidden = {(i["name"], i["value"]) for i in soup.select("form input[type=hidden]")}
    assert hidden == {("tag", "phụ nữ"), ("author", "Lam Dương")}
    chip_text = soup.select_one(".chips").get_text(" ", strip=True)
    assert "Chủ đề: phụ nữ" in chip_text and "Tác giả: Lam Dương" in chip_text


def test_empty_state(page_client):
    soup = get(page_client, "/?q=xyzzyqwv&section=Xã+hội")
    assert not hits(soup)
    assert "Không tìm thấy kết quả nào cho «xyzzyqwv»" in soup.select_one("h1#summary").get_text(" ", strip=True)
    empty = soup.select_one(".empty").get_text(" ", strip=True)
    assert "kiểm tra lại chính tả" in empty
    clear = soup.select_one(".empty a")
    assert query_of(clear["href"]) == {"q": ["xyzzyqwv"]}


def test_page_past_the_last_says_so(page_client):
    soup = get(page_client, "/?q=binh+dang+gioi&section=Xã+hội&page=9")
    assert not hits(soup)
    assert "Về trang đầu" in soup.select_one(".empty").get_text()


def test_did_you_mean_links_to_the_suggested_query(page_client):
    soup = get(page_client, "/?q=triễn+lãmm&section=Văn+hóa")
    suggestion = soup.select_one(".suggestion a")
    assert suggestion is not None, soup.select_one("main").get_text(" ", strip=True)
    params = query_of(suggestion["href"])
    assert params["section"] == ["Văn hóa"]
    assert params["q"] == [suggestion.get_text(strip=True)]
    assert params["q"] != ["triễn lãmm"]
    assert "vh/khong-ngay" in hit_ids(get(page_client, suggestion["href"]))


def test_article_without_date_shows_no_date(page_client):
    hit = hit_by_id(get(page_client, "/?q=son+mai"), "vh/khong-ngay")
    assert hit.find("time") is None


# -- bad parameters and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("q=giới&from=14-11-2022", "from", "Ngày bắt đầu «14-11-2022» không hợp lệ"),
        ("q=giới&to=2022-02-30", "to", "Ngày kết thúc «2022-02-30» không hợp lệ"),
        ("q=giới&from=2022-12-01&to=2022-11-01", "from", "ở sau ngày kết thúc"),
        ("q=giới&sort=best", "sort", "Cách sắp xếp «best» không hợp lệ"),
        ("q=giới&page=0", None, "Số trang phải là số nguyên từ 1 đến 1.000"),
        ("q=giới&size=500", None, "Số kết quả mỗi trang phải là số nguyên từ 1 đến 50"),
        ("q=" + "a" * 1001, "q", "Từ khóa quá dài"),
        ("q=a%00b", "q", "ký tự không hợp lệ"),
    ],
)
def test_bad_parameters_give_400_with_a_vietnamese_message(page_client, query, field, words):
    soup = get(page_client, "/?" + query, status=400)
    message = soup.select_one("#form-error")
    assert message["role"] == "alert"
    assert words in message.get_text(), message.get_text()
    assert not hits(soup)
    if field:
        assert soup.select_one(f"#{field}")["aria-invalid"] == "true"
    assert soup.find("form", attrs={"role": "search"}), "the form stays, to fix the request"


def test_bad_date_keeps_the_other_filters_in_the_form(page_client):
    soup = get(page_client, "/?q=giới&section=Xã+hội&from=hôm+qua&sort=newest", status=400)
    assert soup.select_one("#q")["value"] == "giới"
    assert [o["value"] for o in soup.select("#section option[selected]")] == ["Xã hội"]
    assert soup.select_one("#sort option[selected]")["value"] == "newest"
    assert soup.select_one("#from")["value"] == ""


def test_missing_index_gives_503_naming_the_command(tmp_path):
    client = create_app({"INDEX_DIR": str(tmp_path / "none"), "TESTING": True}).test_client()
    for url in ("/", "/?q=giới", "/articles/x"):
        resp = client.get(url)
        assert resp.status_code == 503
        assert resp.headers.get("Retry-After")
        soup = BeautifulSoup(resp.get_data(as_text=True), "html.parser")
        assert soup.html["lang"] == "vi"
        assert "chưa có" in soup.h1.get_text().lower()
        assert soup.select_one("pre.command").get_text().startswith("search-service index ")


def test_unknown_article_gives_a_vietnamese_404(page_client):
    soup = get(page_client, "/articles/khong-co", status=404)
    assert soup.h1.get_text() == "Không tìm thấy bài viết"


# -- escaping ------------------------------------------------------------------------------------


def test_article_text_is_escaped_and_only_marks_are_markup(page_client):
    resp = page_client.get("/?q=mã+độc")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &lt; b &amp;&amp; c &gt; d" in html
    soup = BeautifulSoup(html, "html.parser")
    hit = hit_by_id(soup, "cn/ma-doc")
    assert XSS in hit.h2.get_text()  # shown as text
    assert {t.name for t in hit.h2.a.find_all(True)} == {"mark"}
    assert not soup.find("script")

    # The query itself is echoed escaped, in the box, the heading and the title.
    evil = get(page_client, '/?q="><script>alert(1)</script>')
    assert not evil.find("script")
    assert evil.select_one("#q")["value"] == '"><script>alert(1)</script>'


def test_article_page_escapes_text_and_drops_unsafe_links(page_client):
    resp = page_client.get("/articles/cn/ma-doc")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    gold = get(page_client, "/?q=giá+vàng")
    assert "javascript:" not in str(gold)
    article = page_client.get("/articles/kt/gia-vang").get_data(as_text=True)
    assert "javascript:" not in article

    safe = get(page_client, "/articles/xh/binh-dang-gioi-1")
    assert safe.find("a", string="Xem bài gốc")["href"].startswith("https://")
    assert safe.select_one(".meta time").get_text() == "14/11/2022 12:48"
    tags = {a.get_text(): a["href"] for a in safe.select(".tags a")}
    assert query_of(tags["phụ nữ"]) == {"tag": ["phụ nữ"]}

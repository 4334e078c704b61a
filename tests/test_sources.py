"""Tests for search_service.sources.read_paths and the format readers."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest

from search_service.articles import HANOI, RawRecord, Rejection
from search_service.errors import BadRecord
from search_service.normalize import to_article
from search_service.sources import iter_files, read_paths

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORD_KEYS = {"id", "url", "title", "section", "published", "author", "tags", "summary", "body"}


def shared_data(name: str) -> Path:
    """A file of the shared data directory next to the repository, or skip the test."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / name
    if not path.exists():
        pytest.skip(f"shared data file not available: {path}")
    return path


def read_all(*paths: object, stdin: bytes | None = None) -> list[RawRecord | Rejection]:
    """Every item read_paths yields for the given paths."""
    stream = io.BytesIO(stdin) if stdin is not None else None
    return list(read_paths([str(p) for p in paths], stdin=stream))


def records(items: list) -> list[RawRecord]:
    """The records among read items."""
    return [i for i in items if isinstance(i, RawRecord)]


def rejections(items: list) -> list[Rejection]:
    """The rejections among read items."""
    return [i for i in items if isinstance(i, Rejection)]


def one_page(items: list) -> dict:
    """The fields of the only record read."""
    assert len(items) == 1 and isinstance(items[0], RawRecord), items
    assert items[0].position == 1
    return items[0].fields


JSONL_LINES = [
    b'{"id": "r1", "title": "M\xe1\xbb\x99t"}',
    b'{"id": "r2", "title": "bad" "x": 1}',
    b'{"id": "r3", "title": "Ba \xff\xfe"}',
    b"",
    b"[1, 2]",
    b'"chu\xe1\xbb\x97i"',
    b'{"id": "r7", "title": "B\xe1\xba\xa3y"}',
]


def write_jsonl(path: Path) -> Path:
    """A JSON Lines file mixing good and bad lines (see JSONL_LINES)."""
    path.write_bytes(b"\n".join(JSONL_LINES) + b"\n")
    return path


def assert_mixed_jsonl(items: list, origin: str) -> None:
    """Good lines come through with their line numbers; bad ones are rejected at theirs."""
    assert [(r.position, r.fields["id"]) for r in records(items)] == [(1, "r1"), (7, "r7")]
    assert records(items)[0].fields["title"] == "Một"
    bad = {r.position: r.reason for r in rejections(items)}
    assert sorted(bad) == [2, 3, 5, 6]
    assert bad[2] == "invalid JSON: Expecting ',' delimiter at column 29"
    assert bad[3].startswith("not UTF-8 text: invalid byte 0xff")
    assert bad[5] == "not a JSON object (got array)"
    assert bad[6] == "not a JSON object (got string)"
    assert all(i.origin == origin for i in items)


# --- JSON Lines ------------------------------------------------------------------------------------------


def test_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mixed.jsonl")
    assert_mixed_jsonl(read_all(path), str(path))


def test_jsonl_fixture() -> None:
    items = read_all(FIXTURES / "articles.jsonl")
    assert [(r.position, r.fields["id"]) for r in records(items)] == [(1, "tstd/1"), (5, "tstd/3")]
    assert [(r.position, r.reason) for r in rejections(items)] == [
        (3, "invalid JSON: Expecting ',' delimiter at column 44"),
        (4, "not a JSON object (got array)"),
    ]
    article = to_article(records(items)[1].fields)
    assert article.published == datetime(2023, 3, 14, 6, 0, tzinfo=HANOI)
    assert article.tags == ("thời tiết", "Hà Nội")


def test_jsonl_gzip(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(JSONL_LINES)))
    assert_mixed_jsonl(read_all(path), str(path))


@pytest.mark.parametrize("suffix", [".ndjson", ".jsonlines", ".NDJSON.gz"])
def test_jsonl_other_extensions(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    data = b'{"id": "a", "title": "x"}\n{"id": "b", "title": "y"}\n'
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    assert [r.fields["id"] for r in read_all(path)] == ["a", "b"]


def test_jsonl_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "win.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "title": "x"}\r\n\r\n{"id": "b", "title": "y"}\r\n')
    items = read_all(path)
    assert [(r.position, r.fields["id"]) for r in items] == [(1, "a"), (3, "b")]


def test_truncated_gzip_keeps_earlier_lines(tmp_path: Path) -> None:
    bodies = (hashlib.sha256(b"%d" % i).hexdigest().encode() * 4 for i in range(3000))  # poorly compressible
    lines = b"".join(
        b'{"id": "r%d", "title": "T\xc3\xadn", "body": "%s"}\n' % (i, body) for i, body in enumerate(bodies)
    )
    packed = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    items = read_all(path)
    good = records(items)
    assert 500 < len(good) < 3000
    assert [r.position for r in good] == list(range(1, len(good) + 1))
    assert len(rejections(items)) == 1
    last = rejections(items)[0]
    assert "gzip" in last.reason and last.position == len(good) + 1


def test_not_gzip_despite_name_is_read_as_plain(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl.gz"
    path.write_bytes(b'{"id": "a", "title": "x"}\n')
    assert [r.fields["id"] for r in read_all(path)] == ["a"]


def test_jsonl_streams_without_reading_everything(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"id": "a", "title": "x"}\n' * 200_000)
    reader = read_paths([str(path)])
    first = next(reader)
    assert first.position == 1
    reader.close()


# --- JSON ------------------------------------------------------------------------------------------------


def test_json_list_fixture() -> None:
    items = read_all(FIXTURES / "articles.json")
    assert [(r.position, r.fields["id"]) for r in records(items)] == [(1, "json/1"), (3, 2)]
    assert [(r.position, r.reason) for r in rejections(items)] == [(2, "not a JSON object (got string)")]
    assert to_article(records(items)[1].fields).id == "2"


def test_json_single_object(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    text = json.dumps({"id": "x", "title": "Một bài"}, ensure_ascii=False, indent=2)
    path.write_text(text, encoding="utf-8")
    assert [(r.position, r.fields["title"]) for r in read_all(path)] == [(1, "Một bài")]


def test_json_articles_wrapper(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.json"
    records_ = [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]
    path.write_text(json.dumps({"source": "x", "articles": records_}))
    assert [(r.position, r.fields["id"]) for r in read_all(path)] == [(1, "a"), (2, "b")]


def test_json_invalid_is_one_rejection(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"id": "a", "title": "A"},\n  {"id": "b" "title": "B"}\n]\n')
    assert [(r.position, r.reason) for r in read_all(path)] == [
        (0, "invalid JSON: Expecting ',' delimiter at line 3 column 14")
    ]


@pytest.mark.parametrize(("content", "reason"), [("42", "not a number"), ("[]", "no records")])
def test_json_without_objects(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(content)
    [item] = read_all(path)
    assert isinstance(item, Rejection) and item.position == 0 and reason in item.reason


def test_json_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"id": "a", "title": "Hà Nội"}'.encode("cp1258", errors="replace"))
    [item] = read_all(path)
    assert isinstance(item, Rejection) and item.position == 0 and item.reason.startswith("not UTF-8 text")


# --- standard input ---------------------------------------------------------------------------------------


def test_stdin_jsonl() -> None:
    items = read_all("-", stdin=b"\n".join(JSONL_LINES))
    assert_mixed_jsonl(items, "-")


def test_stdin_gzipped_jsonl() -> None:
    items = read_all("-", stdin=gzip.compress(b"\n".join(JSONL_LINES)))
    assert_mixed_jsonl(items, "-")


def test_stdin_json_list() -> None:
    items = read_all("-", stdin=b'  [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]')
    assert [(r.position, r.fields["id"]) for r in items] == [(1, "a"), (2, "b")]


def test_stdin_pretty_printed_object_is_json() -> None:
    items = read_all("-", stdin=b'\n\n{\n  "id": "a",\n  "title": "A"\n}\n')
    assert [(r.position, r.fields["id"]) for r in items] == [(1, "a")]


def test_stdin_html_page() -> None:
    fields = one_page(read_all("-", stdin=(FIXTURES / "page-opengraph.html").read_bytes()))
    assert fields["title"] == "Nông dân Đồng Tháp trúng mùa xoài cát Hòa Lộc"


def test_stdin_text_page_has_content_hash_id() -> None:
    data = (FIXTURES / "page-sample-giaoduc.txt").read_bytes()
    fields = one_page(read_all("-", stdin=data))
    assert fields["section"] == "Giáo dục"
    assert fields["id"].startswith("page:sha1-") and len(fields["id"]) == len("page:sha1-") + 16
    assert one_page(read_all("-", stdin=data))["id"] == fields["id"]


def test_stdin_empty() -> None:
    assert [(r.origin, r.position, r.reason) for r in read_all("-", stdin=b"")] == [("-", 0, "empty file")]


def test_stdin_binary() -> None:
    [item] = read_all("-", stdin=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert isinstance(item, Rejection) and item.position == 0 and item.reason.startswith("unknown format")


# --- files, directories, errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.json", "empty.html", "empty.txt", "blank.jsonl"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\n \n\t\n" if name.startswith("blank") else b"")
    assert [(r.position, r.reason) for r in read_all(path)] == [(0, "empty file")]


def test_empty_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl.gz"
    path.write_bytes(gzip.compress(b""))
    assert [(r.position, r.reason) for r in read_all(path)] == [(0, "empty file")]


def test_binary_file_by_extension(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    [item] = read_all(path)
    assert isinstance(item, Rejection) and item.position == 0
    assert item.reason.startswith("unknown format") and ".png" in item.reason


def test_binary_file_with_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "blob.dat"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    [item] = read_all(path)
    assert isinstance(item, Rejection) and item.position == 0 and item.reason.startswith("unknown format")


def test_unknown_extension_is_sniffed(tmp_path: Path) -> None:
    (tmp_path / "feed.out").write_bytes(b'{"id": "a", "title": "x"}\n{"id": "b", "title": "y"}\n')
    (tmp_path / "page.saved").write_bytes((FIXTURES / "page-jsonld.html").read_bytes())
    (tmp_path / "export").write_bytes((FIXTURES / "page-sample-giaoduc.txt").read_bytes())
    assert [r.position for r in read_all(tmp_path / "feed.out")] == [1, 2]
    assert one_page(read_all(tmp_path / "page.saved"))["id"] == "tstd-20230315-4471"
    assert one_page(read_all(tmp_path / "export"))["id"] == "page:export"


def test_missing_path_is_rejected_and_others_still_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    items = read_all(missing, FIXTURES / "articles.json")
    assert items[0] == Rejection(str(missing), 0, "no such file or directory")
    assert len(records(items)) == 2


def test_directory_walk(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.json").write_text('{"id": "a", "title": "A"}')
    (root / "b" / "2.jsonl").write_text('{"id": "b2", "title": "B"}\n')
    (root / "b" / "1.jsonl.gz").write_bytes(gzip.compress(b'{"id": "b1", "title": "B"}\n'))
    (root / "b" / "deep" / "page.html").write_bytes((FIXTURES / "page-opengraph.html").read_bytes())
    (root / "c.txt").write_bytes((FIXTURES / "page-sample-giaoduc.txt").read_bytes())
    (root / ".hidden.jsonl").write_text('{"id": "hidden", "title": "H"}\n')
    (root / ".git" / "x.jsonl").write_text('{"id": "git", "title": "G"}\n')
    (root / "README.md").write_text("# Dữ liệu\n")
    (root / "convert.py").write_text("print('x')\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")

    expected_files = ["a.json", "b/1.jsonl.gz", "b/2.jsonl", "b/deep/page.html", "c.txt"]
    assert [Path(p).relative_to(root).as_posix() for p in iter_files([str(root)])] == expected_files
    items = read_all(root)
    assert not rejections(items)
    assert [r.fields["id"] for r in items] == [
        "a",
        "b1",
        "b2",
        "https://tinmientay.example.vn/kinh-te/nong-dan-dong-thap-trung-mua-xoai.html",
        "page:c",
    ]
    assert items[1].origin == str(root / "b" / "1.jsonl.gz")


def test_directory_without_article_files(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("x")
    [item] = read_all(tmp_path)
    assert isinstance(item, Rejection) and item.position == 0 and "no article files" in item.reason


def test_corrupt_gzip_header(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x99garbage that is not deflate data")
    [item] = read_all(path, FIXTURES / "articles.json")[:1]
    assert isinstance(item, Rejection) and item.position == 0 and "gzip" in item.reason


def test_explicit_hidden_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / ".hidden.jsonl"
    path.write_text('{"id": "h", "title": "H"}\n')
    assert [r.fields["id"] for r in read_all(path)] == ["h"]


# --- HTML pages -------------------------------------------------------------------------------------------


def test_html_json_ld_only() -> None:
    fields = one_page(read_all(FIXTURES / "page-jsonld.html"))
    assert set(fields) == RECORD_KEYS
    assert fields["id"] == "tstd-20230315-4471"
    assert (
        fields["url"]
        == "https://thoisuthudo.example.vn/giao-thong/ha-noi-mo-them-3-tuyen-xe-buyt-dien-4471.html"
    )
    assert fields["title"] == "Hà Nội mở thêm 3 tuyến xe buýt điện từ tháng 4"
    assert fields["section"] == "Giao thông"
    assert fields["published"] == "2023-03-15T07:30:00+07:00"
    assert fields["author"] == "Ngọc Ánh, Trần Minh"
    assert fields["tags"] == ["xe buýt điện", "giao thông công cộng", "Hà Nội"]
    assert fields["summary"].startswith("Sở Giao thông vận tải Hà Nội cho biết")
    body = fields["body"]
    assert "các tuyến mới gồm E11, E12 và E13, với tổng cộng 58 xe chạy hoàn toàn bằng điện." in body
    assert "Doanh nghiệp vận hành sẽ lắp đặt 40 trụ sạc nhanh" in body
    assert "Thêm điểm sạc tại các bến\n" in body
    for noise in (
        "Ảnh: Ngọc Ánh",
        "Tin liên quan",
        "BRT",
        "loadAds",
        "dataLayer",
        "bình luận",
        "Gửi",
        "Trang chủ",
        "Giấy phép",
        "Bài khác",
        "15/03/2023 07:30",
        "margin",
    ):
        assert noise not in body, noise
    assert not body.startswith("Hà Nội mở thêm")  # the headline is not repeated in the body

    article = to_article(fields)
    assert article.published == datetime(2023, 3, 15, 7, 30, tzinfo=HANOI)
    assert "7.000 đồng" in article.body and "ùn tắc & ô nhiễm" in article.body
    assert all(line == line.strip() and line for line in article.body.split("\n"))


def test_html_meta_tags_only() -> None:
    fields = one_page(read_all(FIXTURES / "page-opengraph.html"))
    assert set(fields) == RECORD_KEYS
    url = "https://tinmientay.example.vn/kinh-te/nong-dan-dong-thap-trung-mua-xoai.html"
    assert fields["id"] == url and fields["url"] == url  # no article id: the canonical URL is the id
    assert fields["title"] == "Nông dân Đồng Tháp trúng mùa xoài cát Hòa Lộc"
    assert fields["section"] == "Kinh tế"
    assert fields["author"] == "Phạm Thanh Tâm"  # article:author is a profile URL, not a name
    assert fields["tags"] == ["Đồng Tháp", "xoài cát Hòa Lộc", "nông nghiệp"]  # meta keywords ignored
    assert fields["summary"].startswith("Giá xoài cát Hòa Lộc đầu vụ đạt 45.000 đồng/kg")
    assert fields["body"].split("\n") == [
        "Những ngày này, nông dân xã Mỹ Xương, huyện Cao Lãnh, tỉnh Đồng Tháp tất bật thu hoạch xoài.",
        "Ông Nguyễn Văn Hai, chủ vườn xoài rộng 2 ha, cho biết năm nay thời tiết thuận lợi nên trái to, đẹp, "
        "ít sâu bệnh.",
        "Theo Phòng Nông nghiệp huyện, toàn huyện có khoảng 4.200 ha xoài, sản lượng dự kiến 60.000 tấn.",
    ]
    article = to_article(fields)
    assert article.published.isoformat() == "2023-05-08T09:15:00+07:00"  # naive: Hanoi time


def write_page(tmp_path: Path, name: str, html: str) -> Path:
    """Write an HTML page into tmp_path."""
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path


def test_html_opengraph_and_json_ld_together(tmp_path: Path) -> None:
    path = write_page(
        tmp_path,
        "both.htm",
        """<html><head>
        <meta property="og:title" content="Tiêu đề OG">
        <meta property="article:id" content="12345">
        <meta name="keywords" content="một, hai">
        <script type="application/ld+json">[{"@type": "Organization", "name": "Báo"},
          {"@type": "Article", "headline": "Tiêu đề LD", "author": "Lan Anh", "articleSection": ["Thế giới"],
           "datePublished": "2024-01-02T03:04:05Z", "articleBody": "Không dùng khi có article"}]</script>
        </head><body><article><p>Nội dung chính.</p></article></body></html>""",
    )
    fields = one_page(read_all(path))
    assert fields["id"] == "12345"
    assert fields["url"] is None
    assert fields["title"] == "Tiêu đề OG"
    assert (fields["author"], fields["section"]) == ("Lan Anh", "Thế giới")
    assert fields["tags"] == ["một", "hai"]
    assert fields["body"] == "Nội dung chính."
    assert to_article(fields).published == datetime(2024, 1, 2, 10, 4, 5, tzinfo=HANOI)


def test_html_without_metadata_uses_title_body_and_file_stem(tmp_path: Path) -> None:
    path = write_page(
        tmp_path,
        "bai-viet-1.html",
        """<html><head><title>Trang cũ</title><script type="application/ld+json">{broken</script></head>
        <body><nav>Menu</nav><main><p>Đoạn một.</p><div>Đoạn <b>hai</b>.</div></main>
        <footer>Chân</footer></body></html>""",
    )
    fields = one_page(read_all(path))
    assert fields["id"] == "page:bai-viet-1"
    assert fields["title"] == "Trang cũ"
    assert fields["body"] == "Đoạn một.\nĐoạn hai."
    assert fields["tags"] == [] and fields["published"] is None


def test_html_article_body_from_json_ld_when_no_article_element(tmp_path: Path) -> None:
    path = write_page(
        tmp_path,
        "ld-body.html",
        """<html><head><script type="application/ld+json">{"@type": "NewsArticle", "headline": "H",
        "articleBody": "Thân bài từ JSON-LD.", "identifier": 99, "keywords": ["a", "b"]}</script></head>
        <body><div class="menu">Menu chung</div></body></html>""",
    )
    fields = one_page(read_all(path))
    assert (fields["id"], fields["body"], fields["tags"]) == ("99", "Thân bài từ JSON-LD.", ["a", "b"])


# --- text page exports ------------------------------------------------------------------------------------


def test_real_text_page() -> None:
    path = shared_data("page-tttd-2022-11-14.txt")
    fields = one_page(read_all(path))
    assert fields["id"] == "page:page-tttd-2022-11-14"
    title = "Nhân rộng các mô hình phòng ngừa, ứng phó với bạo lực, xâm hại phụ nữ và trẻ em"
    assert fields["title"] == title
    assert fields["section"] == "Xã hội"
    assert fields["author"] == "Lam Dương"
    assert fields["summary"].startswith("TTTĐ - Hà Nội nhân rộng")

    article = to_article(fields)
    assert article.published == datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)
    assert article.published.isoformat() == "2022-11-14T12:48:00+07:00"
    assert article.summary.startswith("TTTĐ - ")
    body = article.body
    lines = body.split("\n")
    assert lines[0].startswith("Sáng 14/11, tại thị xã Sơn Tây")
    assert lines[-1].startswith("Tại chương trình, Ban tổ chức đã trao quà cho 100 phụ nữ")
    assert any("bình đẳng giới" in line for line in lines)
    assert "TTTĐ - " not in body  # the lead is the summary, not repeated in the body
    for furniture in ("Đọc thêm", "Xem thêm", "Tag", "Lam Dương", "Xã hội 14/11/2022"):
        assert furniture not in body, furniture
    assert "aa" not in lines
    # the inline related headline and the "Đọc thêm" related headlines
    for related in (
        "Phối hợp bảo vệ phụ nữ và trẻ em tránh bị xâm hại, bạo lực",
        "Hà Nội triển khai sớm các hoạt động Tết",
        "Khẩn trương sửa Nghị định 150",
        "Bắc Bộ duy trì rét",
    ):
        assert related not in body, related
    # image captions (alt text + caption, near-duplicates) appear at most once
    assert body.count("phát biểu tại Lễ phát động") <= 1
    assert body.count("ấn nút phát động Tháng hành động") <= 1


def test_real_text_page_gzipped(tmp_path: Path) -> None:
    path = tmp_path / "page-tttd-2022-11-14.txt.gz"
    path.write_bytes(gzip.compress(shared_data("page-tttd-2022-11-14.txt").read_bytes()))
    fields = one_page(read_all(path))
    assert fields["id"] == "page:page-tttd-2022-11-14" and fields["author"] == "Lam Dương"


def test_second_text_page_same_layout() -> None:
    fields = one_page(read_all(FIXTURES / "page-sample-giaoduc.txt"))
    assert fields["id"] == "page:page-sample-giaoduc"
    assert fields["title"] == "Trường học vùng cao đón học sinh trở lại sau kỳ nghỉ Tết"
    assert fields["section"] == "Giáo dục"
    assert fields["published"] == "2024-02-02T07:05:00+07:00"
    assert fields["author"] == "Minh Khuê"
    assert fields["summary"] == (
        "TTTĐ - Sáng 2/2, hơn 1.200 học sinh các trường vùng cao huyện Mèo Vạc đã trở lại lớp "
        "sau kỳ nghỉ Tết dài ngày."
    )
    assert fields["body"].split("\n") == [
        "Ngay từ 6 giờ sáng, các thầy cô đã có mặt để đón học sinh, kiểm tra sĩ số và nhắc nhở các em "
        "giữ ấm cơ thể.",
        "Bữa ăn bán trú được bảo đảm",
        "Theo Phòng Giáo dục và Đào tạo huyện, 100% bếp ăn bán trú đã hoạt động trở lại ngay "
        "trong ngày đầu tiên.",
        "Nhà trường đề nghị phụ huynh phối hợp đưa đón các em an toàn trên những cung đường đèo dốc.",
    ]


def test_text_page_without_author_or_time(tmp_path: Path) -> None:
    path = tmp_path / "van-hoa.txt"
    path.write_text(
        "Tag: lễ hội, Hà Nội\n\nLễ hội hoa xuân khai mạc\n\nVăn hóa 05/01/2024\naa\n"
        "TTTĐ - Lễ hội hoa xuân năm nay có quy mô lớn nhất từ trước tới nay.\n\n"
        "Hơn 200 loài hoa được trưng bày dọc hồ.\n\nBan tổ chức dự kiến đón 50.000 lượt khách.\n\n"
        "Tin liên quan\n\nHội hoa mùa thu Văn hóa\n",
        encoding="utf-8",
    )
    fields = one_page(read_all(path))
    assert fields["title"] == "Lễ hội hoa xuân khai mạc"
    assert fields["section"] == "Văn hóa"
    assert fields["published"] == "2024-01-05T00:00:00+07:00"
    assert fields["author"] is None
    assert fields["tags"] == ["lễ hội", "Hà Nội"]
    assert fields["body"].split("\n") == [
        "Hơn 200 loài hoa được trưng bày dọc hồ.",
        "Ban tổ chức dự kiến đón 50.000 lượt khách.",
    ]


def test_text_page_without_dateline(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Thông báo nghỉ lễ\n\nCơ quan nghỉ lễ từ ngày 30/4.\n\nĐọc thêm\nKhác\n")
    fields = one_page(read_all(path))
    assert (fields["title"], fields["section"], fields["published"]) == ("Thông báo nghỉ lễ", None, None)
    assert fields["summary"] == "Cơ quan nghỉ lễ từ ngày 30/4."


def test_text_page_with_impossible_date_is_rejected_by_normalisation(tmp_path: Path) -> None:
    path = tmp_path / "bad-date.txt"
    path.write_text("Tiêu đề\nThời sự 31/02/2024 10:00\nTTTĐ - Dẫn.\n", encoding="utf-8")
    fields = one_page(read_all(path))
    with pytest.raises(BadRecord, match="unparseable date"):
        to_article(fields)


# --- the real corpus --------------------------------------------------------------------------------------


def test_first_records_of_vntc() -> None:
    path = shared_data("news-vntc.jsonl.gz")
    items = list(itertools.islice(read_paths([str(path)]), 200))
    assert len(items) == 200
    assert all(isinstance(i, RawRecord) for i in items)
    assert [i.position for i in items] == list(range(1, 201))
    assert all(i.fields["id"].startswith("vntc/") and set(i.fields) >= RECORD_KEYS for i in items)
    outcomes = {"ok": 0, "missing title": 0}
    for item in items:
        try:
            article = to_article(item.fields)
        except BadRecord as exc:
            assert str(exc) == "missing title"
            assert item.fields["title"] is None
            outcomes["missing title"] += 1
        else:
            assert article.title and article.section
            outcomes["ok"] += 1
    assert outcomes["ok"] > 0 and outcomes["missing title"] > 0


def test_small_truncated_gzip_keeps_earlier_lines(tmp_path: Path) -> None:
    packed = gzip.compress(b'{"id": "a", "title": "x"}\n' * 100)
    path = tmp_path / "tiny.jsonl.gz"
    path.write_bytes(packed[:-12])  # the trailer (CRC, size) and a little data are missing
    items = read_all(path)
    assert 50 <= len(records(items)) < 100
    assert [r.position for r in rejections(items)] == [len(records(items)) + 1]


def test_copy_of_real_gz_via_stdin(tmp_path: Path) -> None:
    path = shared_data("news-vntc.jsonl.gz")
    with path.open("rb") as raw:
        head = raw.read(1 << 20)  # the first MiB of the gzip stream: a truncated copy
    items = list(itertools.islice(read_paths(["-"], stdin=io.BytesIO(head)), 50))
    assert len(items) == 50 and all(isinstance(i, RawRecord) and i.origin == "-" for i in items)

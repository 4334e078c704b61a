"""Tests for search_service.normalize.to_article."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from search_service.articles import HANOI, Article
from search_service.errors import BadRecord
from search_service.normalize import to_article

PLUS7 = timedelta(hours=7)


def make(**fields: object) -> dict:
    """A valid raw record with some fields replaced."""
    record: dict = {"id": "a/1", "title": "Tiêu đề"}
    record.update(fields)
    return record


def test_minimal_record_gives_defaults() -> None:
    article = to_article({"id": "a/1", "title": "Tiêu đề"})
    assert article == Article(id="a/1", title="Tiêu đề")
    assert article.body == "" and article.tags == () and article.published is None


def test_full_record() -> None:
    article = to_article(
        {
            "id": " vntc/train/1 ",
            "url": "https://example.vn/a.html",
            "title": "Giá vàng tăng",
            "section": "Kinh tế",
            "published": "2023-03-13T08:00:00+07:00",
            "author": "Hải Yến",
            "tags": ["vàng"],
            "summary": "Tóm tắt.",
            "body": "Đoạn 1.\nĐoạn 2.",
            "split": "train",
            "outlet": "VNE",
        }
    )
    assert article.id == "vntc/train/1"
    assert article.url == "https://example.vn/a.html"
    assert article.section == "Kinh tế" and article.author == "Hải Yến" and article.summary == "Tóm tắt."
    assert article.published == datetime(2023, 3, 13, 8, 0, tzinfo=HANOI)
    assert article.body == "Đoạn 1.\nĐoạn 2."


def test_input_is_not_modified() -> None:
    record = make(tags="a, b", body="  x  ")
    copy = dict(record)
    to_article(record)
    assert record == copy


# --- text tidying -----------------------------------------------------------------------------------------


def test_nfd_input_becomes_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Tiếng Việt có dấu")
    assert nfd != "Tiếng Việt có dấu"
    article = to_article(make(title=nfd, body=nfd, section=nfd, tags=[nfd], summary=nfd, author=nfd))
    values = (article.title, article.body, article.section, article.tags[0], article.summary, article.author)
    for value in values:
        assert value == "Tiếng Việt có dấu"
        assert unicodedata.is_normalized("NFC", value)


def test_whitespace_is_tidied() -> None:
    article = to_article(
        make(
            title="  Hà\tNội \u00a0 mùa\n thu  ",
            body="\n\n  Đoạn   một \t dài.  \r\n\r\n\r\n\n  Đoạn\u00a0hai.\rDòng ba.\n\n\n",
            summary="Dòng 1\n\nDòng 2",
        )
    )
    assert article.title == "Hà Nội mùa thu"
    assert article.body == "Đoạn một dài.\n\nĐoạn hai.\nDòng ba."
    assert article.summary == "Dòng 1 Dòng 2"


def test_control_characters_removed_newline_kept() -> None:
    article = to_article(make(title="Tin\x00 nóng\x07\u200b", body="a\x1bb\nc\x7fd\ufeff"))
    assert article.title == "Tin nóng"
    assert article.body == "ab\ncd"


def test_html_is_stripped_keeping_blocks() -> None:
    article = to_article(
        make(
            title="<b>Hà Nội</b> &amp; <i>TP.HCM</i>",
            body="<div><p>Đoạn <strong>một</strong>\n  tiếp tục.</p><p>Đoạn&nbsp;hai.</p>Dòng<br/>mới"
            "<!-- ghi chú --><style>p{}</style></div>",
        )
    )
    assert article.title == "Hà Nội & TP.HCM"
    assert article.body == "Đoạn một tiếp tục.\nĐoạn hai.\nDòng\nmới"


def test_entities_decoded_in_plain_text() -> None:
    article = to_article(make(title="Xuất &amp; nhập khẩu&nbsp;tăng", summary="AT&T vẫn là AT&T"))
    assert article.title == "Xuất & nhập khẩu tăng"
    assert article.summary == "AT&T vẫn là AT&T"


def test_less_than_sign_is_not_markup() -> None:
    article = to_article(make(title="Lãi suất < 5% và giá <3 triệu", body="a<b là sai? 1 < 2"))
    assert article.title == "Lãi suất < 5% và giá <3 triệu"
    assert article.body == "a<b là sai? 1 < 2"  # "<b" never closed by ">": text, as a browser shows it
    assert to_article(make(title="x <b>đậm</b> 1 < 2")).title == "x đậm 1 < 2"


def test_script_tag_in_title_is_markup_and_dropped_with_content() -> None:
    # Documented decision: a literal <script> is markup; an unclosed one swallows the rest of the text.
    assert to_article(make(title="Lỗi <script> trong trang")).title == "Lỗi"
    assert to_article(make(title="Lỗi <script>alert(1)</script> trong trang")).title == "Lỗi trong trang"


def test_title_that_is_only_markup_is_missing() -> None:
    with pytest.raises(BadRecord, match="missing title"):
        to_article(make(title="<p> </p><script>x()</script>"))


# --- id and title ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [{"title": "x"}, {"id": None, "title": "x"}, {"id": "  ", "title": "x"}])
def test_missing_id(record: dict) -> None:
    with pytest.raises(BadRecord, match="missing id"):
        to_article(record)


def test_integer_id_becomes_string() -> None:
    assert to_article(make(id=42)).id == "42"


@pytest.mark.parametrize("bad", [{"x": 1}, ["a"], True, 1.5])
def test_id_of_wrong_type(bad: object) -> None:
    with pytest.raises(BadRecord, match="id must be"):
        to_article(make(id=bad))


def test_id_too_long() -> None:
    assert to_article(make(id="x" * 512)).id == "x" * 512
    with pytest.raises(BadRecord, match="too long"):
        to_article(make(id="x" * 513))


@pytest.mark.parametrize("record", [{"id": "a"}, {"id": "a", "title": None}, {"id": "a", "title": " \n\t "}])
def test_missing_title(record: dict) -> None:
    with pytest.raises(BadRecord, match=r"^missing title$"):
        to_article(record)


@pytest.mark.parametrize("field", ["title", "url", "section", "author", "summary", "body"])
def test_non_string_text_field(field: str) -> None:
    with pytest.raises(BadRecord, match=f"{field} must be a string, got object"):
        to_article(make(**{field: {"vi": "x"}}))


def test_record_must_be_a_dict() -> None:
    with pytest.raises(BadRecord):
        to_article(["id", "title"])  # type: ignore[arg-type]


# --- optional fields ------------------------------------------------------------------------------------


def test_empty_optional_fields_become_none() -> None:
    article = to_article(make(url=" ", section="", author=None, summary="<p></p>", body=None))
    assert (article.url, article.section, article.author, article.summary) == (None, None, None, None)
    assert article.body == ""


def test_extra_keys_ignored() -> None:
    article = to_article(make(split="train", outlet="VNE", anything={"x": 1}))
    assert article == Article(id="a/1", title="Tiêu đề")


# --- dates ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2022-11-14T12:48:00+07:00", datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)),
        ("2022-11-14T05:48:00Z", datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)),
        ("2022-11-14T12:48:00+09:00", datetime(2022, 11, 14, 10, 48, tzinfo=HANOI)),
        ("2022-11-14T12:48:00", datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)),
        ("2022-11-14 12:48", datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)),
        ("2022-11-14", datetime(2022, 11, 14, tzinfo=HANOI)),
        ("14/11/2022 12:48", datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)),
        ("03/04/2022 07:05", datetime(2022, 4, 3, 7, 5, tzinfo=HANOI)),  # day first
        ("14/11/2022", datetime(2022, 11, 14, tzinfo=HANOI)),
        ("Mon, 14 Nov 2022 12:48:00 +0700", datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)),
        (1668404880, datetime(2022, 11, 14, 12, 48, tzinfo=HANOI)),
        (1668404880.5, datetime(2022, 11, 14, 12, 48, 0, 500000, tzinfo=HANOI)),
    ],
)
def test_published_forms(raw: object, expected: datetime) -> None:
    published = to_article(make(published=raw)).published
    assert published == expected
    assert published.utcoffset() == PLUS7
    assert published.tzinfo is not None


def test_naive_time_is_hanoi_time() -> None:
    published = to_article(make(published="2022-11-14T12:48:00")).published
    assert published.isoformat() == "2022-11-14T12:48:00+07:00"
    assert published.astimezone(UTC).hour == 5


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_no_date(raw: object) -> None:
    assert to_article(make(published=raw)).published is None


@pytest.mark.parametrize("raw", ["hôm qua", "31/02/2022", "12:48", "14/11", "2022-13-45", True])
def test_unparseable_date(raw: object) -> None:
    with pytest.raises(BadRecord, match="unparseable date: "):
        to_article(make(published=raw))


def test_unparseable_date_reason_quotes_value() -> None:
    with pytest.raises(BadRecord) as info:
        to_article(make(published="hôm qua"))
    assert str(info.value) == "unparseable date: 'hôm qua'"


@pytest.mark.parametrize("raw", ["14/11/1850", "2150-01-01", "0001-01-01T00:00:00"])
def test_date_out_of_range(raw: str) -> None:
    with pytest.raises(BadRecord, match="out of range"):
        to_article(make(published=raw))


def test_date_of_wrong_type() -> None:
    with pytest.raises(BadRecord, match="published must be"):
        to_article(make(published={"y": 2022}))


# --- tags -----------------------------------------------------------------------------------------------


def test_tags_list() -> None:
    assert to_article(make(tags=[" Hà Nội ", "giao thông", "", "HÀ NỘI", None, "xe  buýt"])).tags == (
        "Hà Nội",
        "giao thông",
        "xe buýt",
    )


def test_tags_comma_string() -> None:
    assert to_article(make(tags="thời tiết, Hà Nội,, ,Thời tiết")).tags == ("thời tiết", "Hà Nội")


@pytest.mark.parametrize("raw", [None, [], "", " , "])
def test_no_tags(raw: object) -> None:
    assert to_article(make(tags=raw)).tags == ()


@pytest.mark.parametrize("raw", [{"a": 1}, [{"a": 1}], 5])
def test_bad_tags(raw: object) -> None:
    with pytest.raises(BadRecord, match="tags must be"):
        to_article(make(tags=raw))

"""One JSON error shape for the API, one error page for HTML: domain errors -> HTTP statuses."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    ArticleNotFound,
    BadQuery,
    IndexCorrupt,
    IndexMissing,
    SchemaMismatch,
    SearchServiceError,
)

STATUS = {
    BadQuery: (400, "bad_request"),
    ArticleNotFound: (404, "not_found"),
    IndexMissing: (503, "index_missing"),
    SchemaMismatch: (503, "reindex_required"),
    IndexCorrupt: (503, "index_unreadable"),
}


def status_for(exc: BaseException) -> tuple[int, str]:
    """HTTP status and error code for a domain error."""
    for kind, answer in STATUS.items():
        if isinstance(exc, kind):
            return answer
    return 500, "internal_error"


def error_response(status: int, code: str, message: str, **extra: object) -> Response:
    """The API's error shape: {"error": {"code", "message", ...}}."""
    body = {"error": {"code": code, "message": message, **extra}}
    resp = jsonify(body)
    resp.status_code = status
    if status == 503:
        resp.headers["Retry-After"] = "10"
    return resp


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/openapi.json")


def register(app: Flask) -> None:
    """Install the handlers: no request ends in a traceback."""

    @app.errorhandler(SearchServiceError)
    def domain_error(exc: SearchServiceError):
        status, code = status_for(exc)
        extra = {"param": exc.param} if isinstance(exc, BadQuery) else {}
        if _wants_json():
            return error_response(status, code, str(exc), **extra)
        headers = {"Retry-After": "10"} if status == 503 else {}
        return render_template("error.html", status=status, message=str(exc)), status, headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = {
            404: "Không tìm thấy trang này.",
            405: "Phương thức này không được hỗ trợ: dịch vụ chỉ cho phép đọc (GET).",
        }.get(exc.code or 500, exc.description or exc.name)
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        if _wants_json():
            resp = error_response(exc.code or 500, code, message)
            resp.headers.update(headers)
            return resp
        return render_template("error.html", status=exc.code, message=message), exc.code, headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unexpected error on %s", request.path)
        message = "Lỗi máy chủ: yêu cầu chưa được trả lời; lỗi đã được ghi lại (internal error, logged)."
        if _wants_json():
            return error_response(500, "internal_error", message)
        return render_template("error.html", status=500, message=message), 500

"""Input readers: files, directories and standard input in JSON Lines, JSON, HTML and text-page formats.

``read_paths`` yields ``RawRecord`` (fields as found, to be normalised) or ``Rejection`` (a bad line, record
or whole file, with the reason); it never raises for bad input. See ``reader`` for the decisions.
"""

from search_service.sources.html import parse_html_page
from search_service.sources.reader import iter_files, read_paths, read_stream
from search_service.sources.textpage import parse_text_page

__all__ = ["iter_files", "parse_html_page", "parse_text_page", "read_paths", "read_stream"]

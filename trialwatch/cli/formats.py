"""Every command's output formats, in one table: which command prints what.

| command | formats | default |
| --- | --- | --- |
| check, diff | auto (colour on a terminal, else text), text, markdown, json, html | auto |
| history | text, json, markdown, html | text |
| audit | auto, text, markdown, json, html, csv | auto |
| events | text, json, csv, ndjson (a row a line, then the next cursor) | text |
| sync, worker | text, json | text |
| export | parquet, jsonl | parquet |
| watch list, config | table, json | table |
"""

from enum import StrEnum


class Format(StrEnum):
    auto = "auto"
    text = "text"
    markdown = "markdown"
    json = "json"
    html = "html"


class HistoryFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


class AuditFormat(StrEnum):
    auto = "auto"
    text = "text"
    markdown = "markdown"
    json = "json"
    html = "html"
    csv = "csv"


class EventsFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"
    ndjson = "ndjson"


class SyncFormat(StrEnum):
    text = "text"
    json = "json"


class TableFormat(StrEnum):
    table = "table"
    json = "json"


class ExportFormat(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"

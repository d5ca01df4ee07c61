"""Reading the tables of an HTML report back, with the standard library's parser: what a
script reading ``snnc evaluate --format html`` would do."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self, section: str):
        super().__init__()
        self.section, self.inside, self.depth = section, False, 0
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.table = self.cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.depth += 1
            if attrs.get("id") == self.section:
                self.inside = True
        if not self.inside:
            return
        if tag == "table":
            self.table = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr":
            self.table.append([])
        elif tag in ("td", "th"):
            # a number's exact value is in data-value; the text is rounded for reading
            self.cell = [attrs.get("data-value"), ""]

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            exact, text = self.cell
            self.table[-1].append(exact if exact is not None else (None if text == "-" else text))
            self.cell = None
        elif tag == "section":
            self.depth -= 1
            self.inside = False


def data_tables(page: str, section: str) -> dict[str, list[dict]]:
    """Tables (by id) in ``<section id=section>``: one dict per row after the header row,
    header -> cell (the ``data-value`` when there is one, None for "-")."""
    parser = _Tables(section)
    parser.feed(page)
    return {name: [dict(zip(rows[0], row)) for row in rows[1:]] for name, rows in parser.tables.items()}

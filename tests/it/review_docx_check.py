#!/usr/bin/env python3
"""Dumps what a Word document holds, as python-docx (an independent reader) sees it, as JSON.

    python3 tests/it/review_docx_check.py REVIEW.docx [EXPECTATIONS.json]

Prints one JSON object:

- "paragraphs": the text of every body paragraph, in order (not those in tables);
- "tables": per table, in order, {"rows": [[cell text, ...], ...], "header_rows": rows marked to
  repeat on each page (w:tblHeader)};
- "sections": per section, its orientation, page size and margins in mm, whether its first page
  has its own header (w:titlePg), and the text of its default header (a PAGE field reads as its
  cached value);
- "fonts": every font name the document's runs, styles and document defaults name (w:rFonts);
- "highlighted": the text of the highlighted runs;
- "title": the title of the core properties.

It checks nothing by itself: the Rust test of crates/export/src/review/docx.rs compares. With an
expectations file ({"paragraphs": [substring, ...], "fonts": [name, ...]}), it also lists under
"unmet" the substrings no paragraph or table cell contains and the fonts not named, and exits with
status 1 when there are any.

Needs python-docx (pip install python-docx).
"""

import json
import sys

import docx
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn


def mm(length):
    return None if length is None else round(length.mm, 1)


def run_fonts(element):
    names = set()
    for fonts in element.iter(qn("w:rFonts")):
        for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
            name = fonts.get(qn(attribute))
            if name:
                names.add(name)
    return names


def dump(path):
    document = docx.Document(path)
    tables = []
    for table in document.tables:
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        header_rows = sum(1 for tr in table._tbl.tr_lst if tr.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None)
        tables.append({"rows": rows, "header_rows": header_rows})
    sections = []
    for section in document.sections:
        sections.append(
            {
                "orientation": "landscape" if section.orientation == WD_ORIENT.LANDSCAPE else "portrait",
                "page_width_mm": mm(section.page_width),
                "page_height_mm": mm(section.page_height),
                "top_margin_mm": mm(section.top_margin),
                "bottom_margin_mm": mm(section.bottom_margin),
                "left_margin_mm": mm(section.left_margin),
                "right_margin_mm": mm(section.right_margin),
                "different_first_page": section.different_first_page_header_footer,
                "header": [p.text for p in section.header.paragraphs],
            }
        )
    fonts = run_fonts(document.element) | run_fonts(document.styles.element)
    for style in document.styles:
        font = getattr(style, "font", None)
        if font is not None and font.name:
            fonts.add(font.name)
    highlighted = []
    for paragraph in document.paragraphs:
        highlighted.extend(run.text for run in paragraph.runs if run.font.highlight_color is not None)
    return {
        "paragraphs": [p.text for p in document.paragraphs],
        "tables": tables,
        "sections": sections,
        "fonts": sorted(fonts),
        "highlighted": highlighted,
        "title": document.core_properties.title,
    }


def unmet(summary, expectations):
    texts = list(summary["paragraphs"]) + [cell for table in summary["tables"] for row in table["rows"] for cell in row]
    missing = [s for s in expectations.get("paragraphs", []) if not any(s in text for text in texts)]
    missing += [f"font {f}" for f in expectations.get("fonts", []) if f not in summary["fonts"]]
    return missing


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    summary = dump(argv[1])
    failed = False
    if len(argv) == 3:
        with open(argv[2], encoding="utf-8") as f:
            summary["unmet"] = unmet(summary, json.load(f))
        failed = bool(summary["unmet"])
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

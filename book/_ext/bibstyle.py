"""Sphinx extension: the bibliography list speaks the same author-year language as the citations.

sphinxcontrib-bibtex cites as ``[Deng et al., 2020]`` (``bibtex_reference_style: author_year``)
but labels the list with pybtex's ``alpha`` style (``[DLH+20]``), so a reader cannot find the
entry by its citation. This registers

* ``companion_author_year`` — a pybtex label style that builds each label with the very template
  the author-year citations use (``Deng et al., 2020``; ``Han and Dally, 2016``), with ``a``/``b``
  appended when two entries would share a label;
* ``companion`` — a formatting style (pybtex's ``unsrt``, sorted by author, year, title) that uses
  those labels and links every arXiv preprint to ``https://arxiv.org/abs/ID``: from the
  ``eprint`` field, or from an ``arXiv:ID`` found in ``note``/``journal``/``howpublished``
  (that text is then dropped from the note, the link says it).

Select it with ``bibtex_default_style: companion``.
"""
from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace

import pybtex.plugin
from pybtex.database import Entry
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

# new-style IDs (1506.02626, 2001.00001v2) and old-style ones (cs/0112017)
ARXIV_ID = re.compile(r"arXiv[:\s]*((?:\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?)", re.I)


def arxiv_id(entry) -> str | None:
    """The arXiv identifier of ``entry``, from ``eprint`` (when it is an arXiv eprint) or its text."""
    fields = entry.fields
    prefix = fields.get("archivePrefix", fields.get("eprinttype", "arXiv"))
    if fields.get("eprint") and prefix.lower() == "arxiv":
        return fields["eprint"].strip()
    for name in ("note", "journal", "howpublished", "url"):
        m = ARXIV_ID.search(fields.get(name, "")) or (
            name == "url" and re.search(r"arxiv\.org/(?:abs|pdf)/([^\s/?#]+?)(?:\.pdf)?$", fields.get(name, "")))
        if m:
            return m.group(1)
    return None


def author_year_text(entry) -> str:
    """``Deng et al., 2020`` — rendered by the template of sphinxcontrib-bibtex's author-year citations."""
    from sphinxcontrib.bibtex.style.referencing import PersonStyle
    from sphinxcontrib.bibtex.style.template import join, year
    person = PersonStyle()
    template = join(sep=", ")[person.author_or_editor_or_title(full=False), year]
    return template.format_data({"entry": entry, "style": SimpleNamespace(person=person)}).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels equal to the author-year citation text; ``a``, ``b``, ... disambiguate repeats."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_text(e) for e in entries]
        counts, seen = Counter(labels), Counter()
        out = []
        for label in labels:
            if counts[label] > 1:
                out.append(f"{label}{chr(ord('a') + seen[label])}")
                seen[label] += 1
            else:
                out.append(label)
        return out


class CompanionStyle(UnsrtStyle):
    default_label_style = "companion_author_year"
    default_sorting_style = "author_year_title"

    def format_entry(self, label, entry, bib_data=None):
        ident = arxiv_id(entry)
        if ident and entry.fields.get("eprint") != ident:
            fields = dict(entry.fields)
            fields["eprint"] = ident
            fields["archivePrefix"] = "arXiv"
            note = ARXIV_ID.sub("", fields.get("note", "")).strip(" ,;.")
            if note:
                fields["note"] = note
            else:
                fields.pop("note", None)
            copy = Entry(entry.type, fields=fields, persons=entry.persons)
            copy.key = entry.key
            entry = copy
        return super().format_entry(label, entry, bib_data=bib_data)


def register() -> None:
    for group, name, cls in (("pybtex.style.labels", "companion_author_year", AuthorYearLabelStyle),
                             ("pybtex.style.formatting", "companion", CompanionStyle)):
        try:
            pybtex.plugin.find_plugin(group, name)
        except pybtex.plugin.PluginNotFound:
            pybtex.plugin.register_plugin(group, name, cls)


def setup(app):
    register()
    return {"parallel_read_safe": True, "parallel_write_safe": True}

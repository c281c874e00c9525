"""Typed result rows: a frozen dataclass per row, a list of rows with ``to_frame()``.

Every sweep of the library returns a :class:`Rows` of frozen dataclass rows. A row also reads
like the dict it replaced (``row["speedup"]``, ``dict(row)``), so code written against the
earlier ``list[dict]`` results keeps working.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass

__all__ = ["Row", "Rows"]


class Row:
    """Mixin for frozen dataclass rows: ``row[field]``, ``row.keys()``, ``row.as_dict()``."""

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]

    def __getitem__(self, key: str):
        if not isinstance(key, str) or key not in self.keys():
            raise KeyError(f"{type(self).__name__} has no field {key!r}; fields: {self.keys()}")
        return getattr(self, key)

    def as_dict(self) -> dict:
        """The fields as a shallow dict (dict-valued fields are copied)."""
        out = {}
        for k in self.keys():
            v = getattr(self, k)
            out[k] = dict(v) if isinstance(v, dict) else v
        return out


class Rows(list):
    """A list of :class:`Row` dataclasses with :meth:`to_frame`."""

    def to_frame(self):
        """A pandas DataFrame, one line per row; a dict-valued field ``f`` becomes columns ``f.<key>``."""
        import pandas as pd
        records = []
        for r in self:
            if not (is_dataclass(r) and isinstance(r, Row)):
                raise TypeError(f"Rows holds dataclass rows, got {type(r).__name__}")
            rec = {}
            for k, v in r.as_dict().items():
                if isinstance(v, dict):
                    rec.update({f"{k}.{kk}": vv for kk, vv in v.items()})
                else:
                    rec[k] = v
            records.append(rec)
        return pd.DataFrame(records)

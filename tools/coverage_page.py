"""Render the coverage page: the survey's sections and technique families → chapters, library
functions (linked to the API reference) and exercises.

The mapping lives in ``book/coverage.yml``; the exercises come from the live registry
(:func:`companion.exercises.exercises`), so the page cannot list an exercise that does not exist.
``tests/test_coverage.py`` checks that every function named in the YAML exists.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path = ROOT / "book" / "coverage.yml") -> list[dict]:
    return yaml.safe_load(path.read_text())["sections"]


def resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    obj = importlib.import_module(module)
    return getattr(obj, name)


def render(sections: list[dict]) -> str:
    from companion import exercises
    lines = ["# Coverage: the survey, chapter by chapter", "",
             "Which part of the survey {cite:p}`deng2020model` each chapter runs, with the library functions "
             "that implement it (linked to the API reference) and the exercises that practise it. "
             "Generated from `book/coverage.yml` and the exercise registry when the site is built.", ""]
    for sec in sections:
        ch = sec["chapter"]
        doc = sec["notebook"]
        lines += [f"## {sec['survey']}", "", f"Chapter: {{doc}}`notebooks/{doc}`", "",
                  "| technique family | functions | |", "|---|---|---|"]
        for tech in sec["techniques"]:
            funcs = ", ".join(f"{{py:obj}}`{f.rpartition('.')[2]} <{f}>`" for f in tech.get("functions", []))
            lines.append(f"| {tech['name']} | {funcs} | {tech.get('note', '')} |")
        exs = exercises.exercises(f"ch{ch}")
        if exs:
            lines += ["", "Exercises: " + "; ".join(f"`{e.id}` ({e.level}) — {e.prompt}" for e in exs)]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(load()))

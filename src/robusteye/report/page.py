"""The self-contained HTML page: inline CSS, figures embedded as base64 PNG data URIs."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from robusteye.report.style import FigureFile
from robusteye.report.summary import HEADLINE_METRICS, PointSummary, Stat, VariantSummary
from robusteye.results import CellRow

#: The page's file name in its folder (a grid's report and a search's alike).
REPORT_NAME = "report.html"
#: The folder beside the page that holds its figures as PNG files.
FIGURES_DIR = "figures"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em;
     margin-top: 2em; } h3 { margin-bottom: 0.3em; }
.meta { color: #555; font-size: 0.95em; } .how { color: #444; font-style: italic; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f4f7; } td.name, th.name { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em;
          border-radius: 2px; vertical-align: baseline; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
.audit-warn { background: #fff4e5; border-left: 4px solid #d9822b; padding: 0.6em 1em; }
.audit-pass { color: #2b7a3d; }
"""


def run_link(run: Path, target: object, page: Path | None = None) -> str | None:
    """The href of `target`, a path relative to the run folder `run`, for a page in `page`
    (default: the run folder); None unless `target` is a relative path without `..` that stays
    inside the run (no scheme such as `javascript:`, no absolute path, no link leading out).

    Every link a report writes goes through here: its targets come from files in the run
    folder, which a stranger may have edited. The href is percent-encoded, so a file name
    holding `:` cannot read as a scheme either."""
    if not isinstance(target, str) or not target or "\\" in target:
        return None
    if any(ch in target for ch in "\x00\r\n\t?#") or ":" in target.split("/")[0]:
        return None
    relative = PurePosixPath(target)
    if relative.is_absolute() or ".." in relative.parts:
        return None
    base = run.resolve()
    try:
        resolved = (run / relative).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None
    if not resolved.is_relative_to(base) or resolved == base:
        return None
    start = base if page is None else page.resolve()
    href = Path(os.path.relpath(base / relative, start)).as_posix()
    return quote(href, safe="/")


@dataclass(frozen=True)
class Section:
    """One part of the page: an anchor id, a heading, a 'how to read this' line and HTML."""

    anchor: str
    title: str
    how: str
    body: str


def figure_html(figure: FigureFile) -> str:
    """An embedded PNG with its caption."""
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    title = escape(figure.title)
    return (
        f'<figure><img alt="{title}" src="data:image/png;base64,{data}">'
        f"<figcaption>{title}</figcaption></figure>"
    )


def _cell(stat: Stat) -> str:
    return f"<td>{escape(stat.format(3))}</td>"


def name_cell(summary: VariantSummary, colors: dict[str, str]) -> str:
    color = colors.get(summary.variant, "#999")
    return (
        f'<td class="name"><span class="swatch" style="background:{color}"></span>'
        f"{escape(summary.label)}</td>"
    )


def summary_table(summaries: Sequence[VariantSummary], colors: dict[str, str]) -> str:
    """Per variant: clean metrics, then each attack's strongest point (mean ± std across folds)."""
    head = "".join(f"<th>{escape(h)}</th>" for _, h in HEADLINE_METRICS)
    rows = []
    for s in summaries:
        conditions: list[tuple[str, dict[str, Stat]]] = [("clean", s.clean)]
        for attack in s.attacks:
            point = attack.strongest()
            if point is not None:
                conditions.append((f"{attack.attack.upper()} {point.title()}", point.metrics))
        if s.corruptions is not None:
            c = s.corruptions
            n = len(c.per_corruption) * len(c.severities)
            conditions.append((f"corruptions (mean of {n})", c.mean))
        for i, (condition, metrics) in enumerate(conditions):
            name = name_cell(s, colors) if i == 0 else '<td class="name"></td>'
            folds = f"<td>{s.n_folds}</td>" if i == 0 else "<td></td>"
            cells = "".join(_cell(metrics[k]) for k, _ in HEADLINE_METRICS)
            rows.append(f'<tr>{name}{folds}<td class="name">{escape(condition)}</td>{cells}</tr>')
    return (
        '<table><tr><th class="name">variant</th><th>folds</th><th class="name">condition</th>'
        f"{head}</tr>{''.join(rows)}</table>"
    )


def _point_header(point: PointSummary) -> str:
    # The eps reaching a target SNR differs between variants: the header names the target only.
    return f"<th>{escape(point.title(detail=False))}</th>"


def point_tables(summaries: Sequence[VariantSummary], colors: dict[str, str]) -> str:
    """One table per attack: accuracy (mean ± std) at every point, clean first."""
    names = list(dict.fromkeys(a.attack for s in summaries for a in s.attacks))
    parts = []
    for name in names:
        rows, header = [], ""
        for s in summaries:
            attack = next((a for a in s.attacks if a.attack == name), None)
            if attack is None:
                continue
            header = header or "".join(_point_header(p) for p in attack.points)
            cells = "".join(_cell(p.metrics["accuracy"]) for p in attack.points)
            rows.append(f"<tr>{name_cell(s, colors)}{_cell(s.clean['accuracy'])}{cells}</tr>")
        parts.append(
            f"<h3>{escape(name.upper())}: accuracy at every point</h3>"
            f'<table><tr><th class="name">variant</th><th>clean</th>{header}</tr>'
            f"{''.join(rows)}</table>"
        )
    return "".join(parts)


def cells_table(cells: Sequence[CellRow], cards: dict[str, str]) -> str:
    """Every cell: fold, seed, sizes, epochs, time, clean accuracy and its model card."""
    rows = []
    for c in cells:
        values = [
            c.fold,
            c.seed,
            c.eval_set,
            c.n_train,
            c.n_eval,
            c.epochs,
            f"{c.seconds:.0f}",
            f"{c.clean.accuracy:.3f}",
        ]
        card = cards.get(c.id, "")
        link = f'<a href="{escape(card)}">model card</a>' if card else "–"
        tds = "".join(f"<td>{escape(str(v))}</td>" for v in values)
        rows.append(f'<tr><td class="name">{escape(c.id)}</td>{tds}<td>{link}</td></tr>')
    head = "".join(
        f"<th>{h}</th>"
        for h in ("fold", "seed", "eval set", "train", "eval", "epochs", "seconds", "clean acc.")
    )
    return f'<table><tr><th class="name">cell</th>{head}<th>card</th></tr>{"".join(rows)}</table>'


def render_page(
    title: str,
    meta: Sequence[tuple[str, str]],
    sections: Sequence[Section],
    *,
    description: str = "",
) -> str:
    """The whole HTML document."""
    info = " · ".join(f"<b>{escape(k)}</b> {escape(v)}" for k, v in meta)
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>'
        f'<p class="how">How to read this: {escape(s.how)}</p>{s.body}</section>'
        for s in sections
    )
    lead = f"<p>{escape(description)}</p>" if description else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1>{lead}<p class="meta">{info}</p><nav>{nav}</nav>'
        f"</header>{body}</body></html>\n"
    )

"""Render the documentation's tables from committed data, so no page types a figure.

`make docs` runs this before `mkdocs build --strict`. It reads

- `benchmarks/results/*.json`: what `python -m benchmarks.bench_<name>` writes (a header with
  the environment and one dict per measured row);
- `docs/results/*.json`: one file per table of results on real data, with the command that
  made it, the data and machine it ran on and where the figures came from (see `TABLE KEYS`
  below); or the raw JSON of `robusteye audit --out R.json`, recognised by its `points` and
  `indicators` keys and rendered as clean, per-attack and worst-case accuracy per point;
- the package itself, for reference tables that are facts of the code (the models' parameter
  counts, the corruptions' levels),

and writes one Markdown snippet per table into `docs/generated/` (git-ignored), which the
pages include with `--8<-- "docs/generated/NAME.md"` (pymdownx.snippets, which fails the
build on a missing snippet). Stale snippets are removed first.

TABLE KEYS of a `docs/results/*.json` file: `title`; `summary` (the setting, one sentence);
`commands` (the exact command lines) and `commands_note` (how they relate to the figures,
when they were reconstructed); `data`; `machine`; `date` or `commit` when known;
`source` (where the figures come from: transcribed once from the README of the time, or the
path of a raw output); `columns` (`key`, `label`, optional `format`, a Python format spec
such as ".3f", and `best`: "max" or "min" to put the best value in bold); `rows` (dicts by
column key); `notes` (sentences printed under the table). A cell is a number, a string,
null (printed as a dash), `{"mean": m, "std": s}` or `{"value": v, "snr_db": d}`.

A row may name the raw output of its audit instead of typing its figures: `"audit":
"raw/NAME.json"` (the `robusteye audit --out` file, under `docs/results/`). A column with
`"audit": "clean"` then reads the clean accuracy of the audit's first point, `"audit":
"worst@35"` the worst case at the point whose target SNR is 35 dB (or `"worst@0.03"`, eps),
`"audit": "ceiling@25"` the data's ceiling in that ball (written by `robusteye audit
--out` beside the points), and `"audit": "indicators"` how many indicators of attack
failure passed. A row may also
carry its `command`, printed under the table beside its label.

TODO: replace the older transcribed files by their commands' raw output in the same way.

Usage: `python scripts/render_docs.py [--out docs/generated]` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks" / "results"
RESULTS = ROOT / "docs" / "results"
DEFAULT_OUT = ROOT / "docs" / "generated"
DASH = "–"


def fmt_number(value: float, spec: str | None) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and spec is None:
        return f"{value:,}"
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if spec:
        return format(value, spec)
    if isinstance(value, float):  # three significant digits, never in e-notation above 1
        if value == 0 or abs(value) < 0.001:
            return f"{value:.3g}"
        return f"{value:,.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"
    return str(value)


def fmt_cell(value: Any, spec: str | None = None) -> str:
    """One table cell: numbers by `spec`, mean ± std, a value with its SNR, or a dash."""
    if value is None or value == "":
        return DASH
    if isinstance(value, dict):
        if "mean" in value:
            text = fmt_number(value["mean"], spec)
            return (
                text if value.get("std") is None else f"{text} ± {fmt_number(value['std'], spec)}"
            )
        if "value" in value:
            text = fmt_number(value["value"], spec)
            return text if value.get("snr_db") is None else f"{text} ({value['snr_db']:.1f} dB)"
        raise ValueError(f"unknown cell {value!r}")
    if isinstance(value, (int, float)):
        return fmt_number(value, spec)
    return str(value).replace("|", "\\|")


def sort_key(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("mean", value.get("value"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def markdown_table(columns: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    best: dict[str, float] = {}
    for col in columns:
        if col.get("best") in ("max", "min"):
            values = [v for v in (sort_key(r.get(col["key"])) for r in rows) if v is not None]
            if values:
                best[col["key"]] = max(values) if col["best"] == "max" else min(values)
    lines = [
        "| " + " | ".join(c.get("label", c["key"]) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col["key"])
            text = fmt_cell(value, col.get("format"))
            if col["key"] in best and sort_key(value) == best[col["key"]]:
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def infer_columns(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return [{"key": k, "label": k} for k in keys]


def provenance(doc: dict[str, Any], link: str | None) -> list[str]:
    """The lines under a table: how it was made, on what, and where its figures live."""
    out: list[str] = []
    if doc.get("summary"):
        out.append(doc["summary"])
        out.append("")
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    if doc.get("notes"):
        out.append("")
    commands = doc.get("commands") or []
    if doc.get("commands_note"):
        out.append(doc["commands_note"])
        out.append("")
    if commands:
        out.append("```bash")
        out.extend(commands)
        out.append("```")
        out.append("")
    facts = []
    for key, label in (
        ("data", "Data"),
        ("machine", "Machine"),
        ("date", "Date"),
        ("commit", "Commit"),
    ):
        if doc.get(key):
            facts.append(f"{label}: {doc[key]}.")
    source = doc.get("source")
    if source:
        facts.append(f"Source: {source}" + ("" if source.endswith(".") else "."))
    if link:
        facts.append(f"Data file: [`{link}`]({link}).")
    if facts:
        out.append("<small>" + " ".join(facts) + "</small>")
        out.append("")
    return out


def from_audit(audit: dict[str, Any], what: str) -> Any:
    """One figure of a raw audit (`robusteye audit --out`): see `"audit"` in TABLE KEYS."""
    if what == "clean":
        return audit["points"][0]["clean_accuracy"]
    if what == "indicators":
        marks = audit["indicators"]
        return f"{sum(i['status'] == 'pass' for i in marks)}/{len(marks)}"
    kind, _, at = what.partition("@")
    if kind not in ("worst", "ceiling") or not at:
        raise ValueError(f"unknown audit figure {what!r}")
    points = audit["points"] if kind == "worst" else audit["ceiling"]["points"]
    for i, point in enumerate(points):
        target = audit["points"][i].get("target_snr_db")
        if (target is not None and math.isclose(target, float(at))) or (
            target is None and math.isclose(point["eps"], float(at))
        ):
            return point["worst_accuracy" if kind == "worst" else "ceiling"]
    raise ValueError(f"the audit has no point at {at}")


def read_row_audits(doc: dict[str, Any], columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the figures of the audits they name filled in (read, not typed)."""
    rows = []
    for row in doc["rows"]:
        if "audit" in row:
            audit = json.loads((RESULTS / row["audit"]).read_text())
            row = {**row, **{c["key"]: from_audit(audit, c["audit"]) for c in columns
                             if "audit" in c}}  # fmt: skip
        rows.append(row)
    return rows


def render_table_doc(doc: dict[str, Any], link: str | None) -> str:
    columns = doc.get("columns") or infer_columns(doc["rows"])
    rows = read_row_audits(doc, columns)
    parts = [f"**{doc['title']}**", "", markdown_table(columns, rows), ""]
    commands = [(r[columns[0]["key"]], r["command"]) for r in rows if r.get("command")]
    if commands:
        parts += ["```bash"]
        for label, command in commands:
            parts += [f"# {label}", command]
        parts += ["```", ""]
    parts += provenance(doc, link)
    return "\n".join(parts).rstrip() + "\n"


def audit_as_table(doc: dict[str, Any]) -> dict[str, Any]:
    """The raw output of `robusteye audit --out R.json` as a table document."""
    points = doc["points"]
    names = [a["name"] for a in points[0]["attacks"]] if points else []
    columns = [
        {"key": "eps", "label": "eps", "format": ".4f"},
        {"key": "snr_db", "label": "SNR dB", "format": ".1f"},
        {"key": "clean", "label": "clean", "format": ".3f"},
        *({"key": n, "label": n, "format": ".3f"} for n in names),
        {"key": "worst", "label": "worst case", "format": ".3f"},
    ]
    rows = []
    for p in points:
        row = {
            "eps": p["eps"],
            "snr_db": p.get("snr_db"),
            "clean": p["clean_accuracy"],
            "worst": p["worst_accuracy"],
        }
        row.update({a["name"]: a["accuracy"] for a in p["attacks"]})
        rows.append(row)
    warned = [i for i in doc.get("indicators", []) if i.get("status") == "warn"]
    notes = [f"indicator {i['name']}: {i['reason']}" for i in warned] or [
        "every indicator of attack failure passed"
    ]
    return {
        "title": doc.get("title", f"Audit of {doc.get('checkpoint', 'a checkpoint')}"),
        "summary": f"{doc.get('suite')} suite, {doc.get('norm')}, {doc.get('n')} images.",
        "data": doc.get("data"),
        "source": "the output of robusteye audit --out",
        "columns": columns,
        "rows": rows,
        "notes": notes,
    }


RUNTIMES = {"torch": "torch (checkpoint)", "onnx": "ONNX float32", "int8": "ONNX int8"}


def export_as_table(doc: dict[str, Any]) -> dict[str, Any]:
    """A results file wrapping the `export.json` of `robusteye export --audit` (key `export`)
    as a table: one row per runtime, clean accuracy and the audit's worst case per SNR."""
    report = doc["export"]
    audit = report.get("audit") or {"rows": [], "flags": [], "warnings": {}}
    snrs = [r["snr_db"] for r in audit["rows"]]
    columns = [
        {"key": "runtime", "label": "model file"},
        {"key": "parity_accuracy", "label": "clean (parity set)", "format": ".3f"},
        {"key": "agreement", "label": "agreement with float", "format": ".4f"},
        {"key": "audit_clean", "label": "clean (audit set)", "format": ".3f"},
        *({"key": f"worst_{s:g}", "label": f"worst case {s:g} dB", "format": ".3f"} for s in snrs),
    ]
    rows = []
    present = {"torch": True, "onnx": "float" in report, "int8": "int8" in report}
    for key, label in RUNTIMES.items():
        if not present[key]:
            continue
        row: dict[str, Any] = {"runtime": label}
        if key == "torch":
            row["parity_accuracy"] = report["float"]["accuracy_torch"]
        elif key == "onnx":
            row["parity_accuracy"] = report["float"]["accuracy"]
        else:
            row["parity_accuracy"] = report["int8"]["accuracy"]
            row["agreement"] = report["int8"]["agreement"]
        for r in audit["rows"]:
            if key in r:
                row["audit_clean"] = r[key]["clean"]
                row[f"worst_{r['snr_db']:g}"] = r[key]["worst_case"]
        rows.append(row)
    parity = report["data"]["parity"]
    notes = [f"parity on {parity['images']} images ({parity['how']})"]
    if report["data"].get("calibration"):
        cal = report["data"]["calibration"]
        notes.append(f"int8 calibrated on {cal['images']} images of {cal['persons']} persons "
                     f"({cal['how']})")  # fmt: skip
    notes.append(
        f"float ONNX vs torch: max |logit difference| {report['float']['max_abs_logit_diff']:.2g}"
    )
    if audit["rows"]:
        notes.append(f"audit: {audit['suite']} suite on {audit['images']} images; the exported "
                     "models' gradient attacks replayed from the float source")  # fmt: skip
    notes += [f"flag: {f}" for f in audit["flags"]]
    notes += [f"{n}'s audit warns: {', '.join(w)}" for n, w in audit["warnings"].items() if w]
    return {**{k: v for k, v in doc.items() if k != "export"}, "columns": columns,
            "rows": rows, "notes": doc.get("notes", []) + notes}  # fmt: skip


def render_results(out: Path) -> list[Path]:
    written = []
    for path in sorted(RESULTS.glob("*.json")):
        doc = json.loads(path.read_text())
        if "points" in doc and "indicators" in doc:
            doc = audit_as_table(doc)
        elif "export" in doc:
            doc = export_as_table(doc)
        link = f"results/{path.name}"
        written.append(write(out / f"results-{path.stem}.md", render_table_doc(doc, link)))
    return written


def render_benchmarks(out: Path) -> list[Path]:
    written = []
    for path in sorted(BENCHMARKS.glob("*.json")):
        doc = json.loads(path.read_text())
        env = doc.get("environment", {})
        setting = {
            k: v
            for k, v in doc.items()
            if k not in ("benchmark", "environment", "rows") and not isinstance(v, dict)
        }
        columns = infer_columns(doc["rows"])
        lines = [
            markdown_table(columns, doc["rows"]),
            "",
            "<small>Setting: "
            + ", ".join(f"{k} {fmt_cell(v)}" for k, v in setting.items())
            + (
                ". Targets: " + ", ".join(f"{k} {v}" for k, v in doc["targets"].items())
                if doc.get("targets")
                else ""
            )
            + ". Environment: "
            + ", ".join(f"{k} {v}" for k, v in env.items() if v is not None)
            + f". Source: `benchmarks/results/{path.name}`, written by "
            + f"`python -m benchmarks.bench_{doc.get('benchmark', path.stem)}`.</small>",
        ]
        written.append(write(out / f"bench-{path.stem}.md", "\n".join(lines) + "\n"))
    return written


def render_code_facts(out: Path) -> list[Path]:
    """Tables that are facts of the code: computed from the package, never typed."""
    sys.path.insert(0, str(ROOT / "src"))
    import robusteye
    from robusteye.corruptions import CORRUPTIONS

    rows = []
    for name in robusteye.list_models():
        model = robusteye.create_model(name, 4, seed=0)
        rows.append(
            {"model": f"`{name}`", "parameters": sum(p.numel() for p in model.parameters())}
        )
    models = markdown_table(
        [
            {"key": "model", "label": "model"},
            {"key": "parameters", "label": "parameters (4 classes)"},
        ],
        rows,
    )
    rows = [
        {
            "family": c.apply.__module__.rsplit(".", 1)[-1],
            "name": f"`{name}`",
            "unit": c.unit,
            **{f"s{i + 1}": level for i, level in enumerate(c.levels)},
            "random": "yes" if c.random else "no",
        }
        for name, c in CORRUPTIONS.items()
    ]
    corruptions = markdown_table(
        [
            {"key": "family"},
            {"key": "name", "label": "corruption"},
            {"key": "unit", "label": "level"},
            *({"key": f"s{i}", "label": f"severity {i}", "format": "g"} for i in range(1, 6)),
            {"key": "random", "label": "seeded draw"},
        ],
        rows,
    )
    return [
        write(out / "models.md", models + "\n"),
        write(out / "corruptions.md", corruptions + "\n"),
    ]


README_MAX_CHARS = 15_000


def slug(heading: str) -> str:
    """The anchor MkDocs (and GitHub) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return re.sub(r"\s+", "-", text.strip())


def check_readme() -> list[str]:
    """The README stays a front page: short, no link outside the repository, and every
    relative link (and its anchor) leads to a file that exists."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    problems = []
    if len(text) > README_MAX_CHARS:
        problems.append(f"README.md has {len(text):,} characters (at most {README_MAX_CHARS:,})")
    if "http" in text:
        problems.append("README.md links outside the repository (it holds 'http')")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        path, _, anchor = target.partition("#")
        file = ROOT / path
        if not file.exists():
            problems.append(f"README.md links to {path}, which does not exist")
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.MULTILINE)
            if anchor not in {slug(h) for h in headings}:
                problems.append(f"README.md links to {target}: no such heading")
    return problems


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    out: Path = args.out
    problems = check_readme()
    for problem in problems:
        print(f"render_docs: {problem}", file=sys.stderr)
    if problems:
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.md"):
        stale.unlink()
    written = render_benchmarks(out) + render_results(out) + render_code_facts(out)
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"render_docs: {len(written)} tables in {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

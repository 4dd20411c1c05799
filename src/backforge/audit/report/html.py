"""One HTML file with everything inline: no scripts, fonts or styles fetched from anywhere."""

from __future__ import annotations

from html import escape

from ..findings import Evidence, Finding, Severity
from ..runner import AuditReport

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1b1b;
  padding:0 1rem}
h1{font-size:1.4rem} table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
.sev{font-weight:600;border-radius:3px;padding:0 .4rem;color:#fff}
.critical{background:#8b0000} .high{background:#c62828} .medium{background:#e08a00}
.low{background:#2b7bb9} .info{background:#777}
details{margin:.6rem 0;border:1px solid #ddd;border-radius:4px;padding:.4rem .7rem}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.5rem;font-size:12px;
  max-height:22rem;overflow:auto}
.muted{color:#666}
"""


def _badge(severity: Severity) -> str:
    return f'<span class="sev {severity.label}">{severity.label}</span>'


def _headers(headers: dict[str, str]) -> str:
    return "".join(f"{escape(k)}: {escape(v)}\n" for k, v in headers.items())


def _evidence(e: Evidence) -> str:
    request = f"{escape(e.method)} {escape(e.url)}\n{_headers(e.request_headers)}"
    if e.request_body:
        request += f"\n{escape(e.request_body)}"
    response = f"HTTP {e.status}\n{_headers(e.response_headers)}\n{escape(e.response_body or '')}"
    note = f"<p class=muted>{escape(e.note)}</p>" if e.note else ""
    return f"{note}<pre>{request}</pre><pre>{response}</pre>"


def _details(i: int, f: Finding) -> str:
    return (
        f'<details id="f{i}"><summary>{_badge(f.severity)} {escape(f.title)} — '
        f"<code>{escape(f.operation)}</code></summary>"
        f"<p>{escape(f.detail)}</p>"
        f"<p><b>OWASP:</b> {escape(f.category)} {escape(f.category_name)} · "
        f"<b>id:</b> {escape(f.id)}</p>"
        f"<p><b>Fix:</b> {escape(f.fix)}</p>"
        + "".join(_evidence(e) for e in f.evidence)
        + "</details>"
    )


def render_html(report: AuditReport) -> str:
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in Severity}
    summary = " ".join(
        f'<span class="sev {s.label}">{n} {s.label}</span>'
        for s, n in sorted(counts.items(), reverse=True)
        if n
    )
    rows = "".join(
        f"<tr><td>{_badge(f.severity)}</td><td>{escape(f.category)}</td>"
        f'<td><a href="#f{i}">{escape(f.title)}</a></td>'
        f"<td><code>{escape(f.operation)}</code></td></tr>"
        for i, f in enumerate(report.findings)
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    target = escape(report.target)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>backforge audit — {target}</title><style>{STYLE}</style></head><body>"
        f"<h1>backforge audit of {target}</h1>"
        f"<p>{summary or 'No findings.'}</p>"
        f"<p class=muted>{report.operations} operations · {report.requests} requests · "
        f"{report.seconds:.1f}s · document {escape(report.document)}</p>"
        "<table><tr><th>Severity</th><th>OWASP</th><th>Finding</th><th>Operation</th></tr>"
        f"{rows}</table>"
        + "".join(_details(i, f) for i, f in enumerate(report.findings))
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + "</body></html>"
    )

"""SQL injection, by error messages, boolean differences and (bounded) time delays.

Only SQL probes are sent: never shell commands, never URLs that make the server fetch anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..client import Exchange, WriteNotAllowed
from ..context import AuditContext
from ..findings import Severity
from ..openapi import Operation
from ..values import properties, schema_type

NAME = "injection"
CATEGORY = "API8:2023"
BENIGN = "bfaudit"
SQL_ERRORS = re.compile(
    r"SQL syntax|syntax error at or near|unterminated quoted string|unrecognized token|"
    r"sqlite3?\.|OperationalError|near \"[^\"]*\": syntax error|SQLSTATE|ORA-\d{5}|"
    r"Microsoft OLE DB|ODBC [A-Z]|psycopg|pg_query|mysql_fetch|You have an error in your SQL|"
    r"quoted string not properly terminated|SQLiteException|PDOException|org\.hibernate|"
    r"JDBC|Incorrect syntax near|unclosed quotation mark",
    re.IGNORECASE,
)
BOOLEAN_PAIRS = [("' OR '1'='1", "' AND '1'='2"), ("' OR 'b'='b", "' AND 'b'='c")]
TIME_PROBES = [  # (dbms, payload with {d} seconds)
    ("PostgreSQL", "'||(SELECT 1 FROM pg_sleep({d}))||'"),
    ("MySQL", "' AND SLEEP({d})-- -"),
    ("SQL Server", "'; WAITFOR DELAY '0:0:{d}'--"),
]
MAX_TIME_TARGETS = 3
FIX = "Use parameterized queries (bound parameters) everywhere; never build SQL by concatenation."


@dataclass
class Target:
    op: Operation
    where: str  # "query", "path" or "body"
    name: str

    def label(self) -> str:
        return f"{self.where} parameter {self.name!r}"


def targets(ctx: AuditContext) -> list[Target]:
    out = []
    for op in ctx.operations("GET", "POST"):
        for p in op.query_params:
            if schema_type(p.schema) in {"string", None} and not p.schema.get("enum"):
                out.append(Target(op, "query", p.name))
        for p in op.path_params:
            if schema_type(p.schema) in {"string", None} and not p.schema.get("enum"):
                out.append(Target(op, "path", p.name))
        if op.method == "POST" and (op in ctx.collection_creates() or op is ctx.login_op):
            for name, sub in properties(op.body_schema).items():
                if schema_type(sub) == "string" and not sub.get("enum") and not sub.get("format"):
                    out.append(Target(op, "body", name))
    return out


def send(ctx: AuditContext, t: Target, value: str, timeout: float | None = None) -> Exchange:
    identity = ctx.identity_for(t.op)
    values = ctx.path_values_for(t.op, ctx.user_a, NAME)
    query: dict[str, Any] = {}
    body = ctx.example_body(t.op)
    if t.where == "query":
        query[t.name] = value
    elif t.where == "path":
        values[t.name] = value
    else:
        body = {**(body or {}), t.name: value}
    return ctx.call(
        t.op,
        identity=identity,
        path_values=values,
        query=query,
        body=body,
        check=NAME,
        timeout=timeout,
    )


def normalized(exchange: Exchange, injected: str) -> tuple[int, str]:
    text = exchange.text.replace(injected, "<v>")
    text = text.replace(injected.replace("'", "\\'"), "<v>").replace(
        injected.replace('"', '\\"'), "<v>"
    )
    return exchange.status, re.sub(r"[0-9a-f]{8,}|\d+", "#", text)


def run(ctx: AuditContext) -> None:
    timed = 0
    for t in targets(ctx):
        try:
            if _error_based(ctx, t) or _boolean_based(ctx, t):
                continue
            if t.where == "query" and timed < MAX_TIME_TARGETS:
                timed += 1
                _time_based(ctx, t)
        except WriteNotAllowed:
            continue


def _report(ctx: AuditContext, t: Target, how: str, detail: str, evidence: list[Exchange]) -> None:
    ctx.report(
        id="sql-injection",
        title=f"SQL injection ({how})",
        severity=Severity.CRITICAL,
        category=CATEGORY,
        operation=t.op.key,
        check=NAME,
        detail=f"{t.label()} of {t.op.key}: {detail}",
        fix=FIX,
        evidence=evidence,
    )


def _error_based(ctx: AuditContext, t: Target) -> bool:
    baseline = send(ctx, t, BENIGN)
    if SQL_ERRORS.search(baseline.text):
        return False
    for quote in ("'", '"'):
        probe = send(ctx, t, BENIGN + quote)
        if SQL_ERRORS.search(probe.text):
            _report(ctx, t, "error-based", f"a stray {quote} produced a database error.", [probe])
            return True
    return False


def _boolean_based(ctx: AuditContext, t: Target) -> bool:
    if t.where == "body" and t.op is not ctx.login_op:
        return False  # comparing create responses says little
    results = []
    for true_suffix, false_suffix in BOOLEAN_PAIRS:
        yes, no = BENIGN + true_suffix, BENIGN + false_suffix
        a, b = send(ctx, t, yes), send(ctx, t, no)
        if not (200 <= a.status < 300 and 200 <= b.status < 300):
            return False  # two refusals that word the input differently prove nothing
        if normalized(a, yes) == normalized(b, no):
            return False
        results.append((a, b))
    (a1, b1), (a2, _) = results
    if normalized(a1, BENIGN + BOOLEAN_PAIRS[0][0]) != normalized(a2, BENIGN + BOOLEAN_PAIRS[1][0]):
        return False  # the "true" answers disagree: noise, not logic
    _report(
        ctx,
        t,
        "boolean-based",
        f"an always-true condition answered {a1.status} ({len(a1.body)} bytes), an always-false "
        f"one {b1.status} ({len(b1.body)} bytes).",
        [a1, b1],
    )
    return True


def _time_based(ctx: AuditContext, t: Target) -> bool:
    delay = ctx.options.time_probe_seconds
    baseline = send(ctx, t, BENIGN)
    for dbms, template in TIME_PROBES:
        slow = send(ctx, t, BENIGN + template.format(d=delay), timeout=delay * 3 + 5)
        if slow.elapsed < baseline.elapsed + delay * 0.8:
            continue
        quick = send(ctx, t, BENIGN + template.format(d=0))
        again = send(ctx, t, BENIGN + template.format(d=delay), timeout=delay * 3 + 5)
        if quick.elapsed < delay * 0.5 and again.elapsed >= baseline.elapsed + delay * 0.8:
            _report(
                ctx,
                t,
                "time-based",
                f"a {dbms} delay of {delay:g}s made the answer {again.elapsed:.1f}s slower, twice.",
                [slow, again],
            )
            return True
    return False

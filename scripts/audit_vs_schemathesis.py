"""What schemathesis alone reports vs what `backforge audit` reports, on the flawed test app.

Serves tests/audit/shop_app.py (every flaw planted) on 127.0.0.1, runs `schemathesis run` with
all its checks and a signed-in user's token, then `backforge audit`, and prints a markdown table:
one row per planted flaw. With --write, the table replaces the one in docs/audit.md.

    .venv/bin/python scripts/audit_vs_schemathesis.py [--max-examples 50] [--write]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.audit.shop_app import FLAWS, make_app  # noqa: E402
from tests.audit.test_audit_shop import EXPECTED  # noqa: E402

from backforge.audit.runner import run_audit  # noqa: E402
from backforge.audit.openapi import build_document  # noqa: E402

# planted flaw -> what in schemathesis' report finds it: (code, operation), and what is only
# a symptom of it (e.g. a 500 where the flaw is SQL injection)
ST_FINDS: dict[str, list[tuple[str, str]]] = {
    "invalid_input_accepted": [("ST201", "POST /api/products")],
    "server_error": [("ST101", "GET /api/products/{id}"), ("ST101", "POST /api/products")],
    "anonymous_access": [("ST401", "GET /api/stats")],
    "drift": [("ST108", "GET /api/products/{id}"), ("ST103", "POST /api/orders")],
}
ST_SYMPTOMS: dict[str, list[tuple[str, str]]] = {
    "sqli_error": [("ST101", "GET /api/products")],
    "mass_assignment": [("ST201", "POST /auth/register")],
    "debug_errors": [("ST101", "GET /api/products/{id}")],
    "huge_numbers": [("ST101", "POST /api/orders")],
}
DESCRIPTIONS = {
    "invalid_input_accepted": "Schema-violating body accepted",
    "server_error": "500 on malformed input",
    "debug_errors": "Stack traces / debug page in errors",
    "inconsistent_errors": "Inconsistent error shapes",
    "sensitive_data": "Password hash in responses",
    "anonymous_access": "Secured operation works anonymously",
    "jwt_alg_none": "JWT `alg: none` accepted",
    "jwt_weak_secret": "JWT HMAC secret in a dictionary",
    "jwt_no_expiry": "Expired JWT accepted",
    "jwt_no_verify": "Tampered / re-signed JWT accepted",
    "user_enumeration": "User enumeration (login, reset)",
    "bola": "User B reads/changes user A's order",
    "bfla": "Customer calls an admin operation",
    "mass_assignment": "`role` accepted on sign-up",
    "sqli_error": "SQL injection (error-based)",
    "sqli_boolean": "SQL injection (boolean-based)",
    "sqli_time": "SQL injection (blind, time-based)",
    "unbounded_limit": "Unbounded page size",
    "huge_numbers": "Huge numbers accepted",
    "no_rate_limit": "No rate limit on login",
    "cors": "CORS: any origin with credentials",
    "missing_headers": "Security headers missing",
    "version_banner": "Version banner",
    "debug_endpoint": "Undocumented /debug endpoint",
    "drift": "Response/status drift from the document",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve() -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(FLAWS), host="127.0.0.1", port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/openapi.json", timeout=1)
            return base, server, thread
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def signed_in_token(base: str) -> str:
    email, password = "st-user@example.com", "St-password-123"
    httpx.post(f"{base}/auth/register", json={"email": email, "password": password})
    response = httpx.post(f"{base}/auth/login", json={"email": email, "password": password})
    return response.json()["access_token"]


def run_schemathesis(base: str, max_examples: int) -> tuple[dict[str, set[str]], float]:
    token = signed_in_token(base)
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        started = time.monotonic()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(max_examples),
                "--seed",
                "1",
                "--header",
                f"Authorization: Bearer {token}",
                "--report",
                "junit",
                "--report-junit-path",
                str(junit),
                "--no-color",
            ],
            capture_output=True,
            check=False,
            cwd=tmp,
        )
        seconds = time.monotonic() - started
        found: dict[str, set[str]] = defaultdict(set)
        document = build_document(make_app_document(), "openapi.json")
        # the report is our own run's output, not untrusted input
        for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
            for failure in case.iter("failure"):
                for block in re.split(r"\n(?=\d+\. Test Case ID)", failure.text or ""):
                    codes = set(re.findall(r"- (ST\d{3}) ", block))
                    operation = case.get("name", "")
                    curl = re.search(r"curl -X (\w+) .*?(https?://\S+)", block)
                    if curl:  # stateful failures name the request, not the operation
                        path = urlsplit(curl.group(2).strip("'\"")).path
                        op = document.match(curl.group(1), path)
                        operation = op.key if op else operation
                    found[operation] |= codes
    return found, seconds


def make_app_document() -> dict:
    from tests.audit.shop_document import openapi_document

    return openapi_document(FLAWS)


def comparison(max_examples: int) -> str:
    base, server, thread = serve()
    try:
        st_found, st_seconds = run_schemathesis(base, max_examples)
        started = time.monotonic()
        report = run_audit(base, max_requests=3000, max_time=120)
        audit_seconds = time.monotonic() - started
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    audit_found = {(f.id, f.category, f.operation) for f in report.findings}

    rows = [
        "| Planted flaw | OWASP API 2023 | schemathesis alone | backforge audit |",
        "|---|---|---|---|",
    ]
    totals = {"st": 0, "st_symptom": 0, "bf": 0}
    for flaw in sorted(FLAWS, key=lambda f: (EXPECTED[f][0][1], f)):
        expected = EXPECTED[flaw]
        hits = [f"{c} on `{op}`" for c, op in ST_FINDS.get(flaw, []) if c in st_found.get(op, ())]
        symptoms = [
            f"{c} on `{op}`" for c, op in ST_SYMPTOMS.get(flaw, []) if c in st_found.get(op, ())
        ]
        if hits:
            st_cell = "found: " + ", ".join(hits)
            totals["st"] += 1
        elif symptoms:
            st_cell = "symptom only: " + ", ".join(symptoms)
            totals["st_symptom"] += 1
        else:
            st_cell = "—"
        reported = [e for e in expected if e in audit_found]
        if len(reported) == len(expected):
            bf_cell = "found: " + ", ".join(sorted({f"`{e[0]}`" for e in expected}))
            totals["bf"] += 1
        elif reported:
            bf_cell = "partly: " + ", ".join(sorted({f"`{e[0]}`" for e in reported}))
        else:
            bf_cell = "—"
        categories = ", ".join(sorted({e[1] for e in expected}))
        rows.append(f"| {DESCRIPTIONS[flaw]} | {categories} | {st_cell} | {bf_cell} |")
    n = len(FLAWS)
    rows.append(
        f"| **Total ({n} planted flaws)** | | **{totals['st']} found**, "
        f"{totals['st_symptom']} symptom only ({st_seconds:.0f}s, --checks all "
        f"-n {max_examples}) | **{totals['bf']} found** ({audit_seconds:.0f}s, "
        f"{report.requests} requests) |"
    )
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="update the table in docs/audit.md")
    args = parser.parse_args()
    table = comparison(args.max_examples)
    print(table)
    if args.write:
        doc = ROOT / "docs" / "audit.md"
        text = doc.read_text()
        start, end = "<!-- comparison:start -->\n", "<!-- comparison:end -->"
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        doc.write_text(before + start + table + end + after)


if __name__ == "__main__":
    main()

"""`backforge audit`: a black-box check of any running HTTP API against the senior backend
engineer's checklist and the OWASP API Security Top 10 (2023).

`runner.run_audit` runs it; `command.audit` is the command. Needs the `[audit]` extra."""

"""The backforge benchmark harness: servers, wrk runs, measurements and the report."""

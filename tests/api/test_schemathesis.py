"""Schemathesis fuzzes the real app from its own ``/openapi.json``: no 5xx, no answer outside the document.

The app serves a copy of the demo collection on a real HTTP server (werkzeug, threaded) with
keys required and every JSON answer checked against its declared model
(``Settings.check_responses``); schemathesis sends what the document allows and what it
forbids (negative cases must be refused with a 4xx), with an ``admin`` key, for a fixed time
budget. Collection names are pinned to ``demo`` and item ids mostly to existing items, so the
requests reach the engine instead of stopping at a 404.

When the document was written by hand, such a run found about 25 disagreements (a range the
document promised and the parser refused, or the other way round) and 3 kinds of 500.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from backend.api import create_app
from backend.config import Settings

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
BUDGET_S = 75  # the whole run, both phases (schemathesis --max-time)
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
    ]
)
CONFIG = """
[parameters]
"path.name" = "demo"

[[operations]]
include-path-regex = "^/v1/items/"
include-method = "GET"
parameters = { "path.item_id" = 3 }

[[operations]]
include-path = "/v1/collections/{name}/related"
parameters = { "query.record" = "europeana:/1/none" }
"""


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed (the [test] extra)")
def test_fuzzing_finds_no_5xx_and_no_answer_outside_the_document(writable_demo: Path, tmp_path: Path) -> None:
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per fuzzed request otherwise
    settings = Settings(
        data_dir=writable_demo,
        require_keys=True,
        check_responses=True,
        rate_limit="1000000/minute",
        anonymous_rate_limit="1000000/minute",
    )
    app = create_app(settings)
    token = app.extensions["artsnap.engine"].keys.create("fuzzer", ["admin"]).token
    doc = app.test_client().get("/openapi.json").get_json()
    operations = sum(1 for item in doc["paths"].values() for method in item if method in ("get", "post", "delete"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="artsnap-schemathesis", daemon=True)
    thread.start()
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    try:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(tmp_path / "schemathesis.toml"),
                "run",
                f"http://127.0.0.1:{server.server_port}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                "25",
                "--max-time",
                str(BUDGET_S),
                "--seed",
                "1",
                "--workers",
                "1",
                "--request-timeout",
                "60",
                "--output-truncate",
                "false",
            ],
            capture_output=True,
            text=True,
            timeout=BUDGET_S + 180,
            cwd=tmp_path,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["artsnap.engine"].close()
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-12000:]
    assert f"Tested: {operations}" in report, report[-3000:]  # every operation was reached
    assert " 0 passed" not in report and "generated, " in report, report[-3000:]

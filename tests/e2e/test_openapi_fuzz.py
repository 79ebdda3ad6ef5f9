"""The OpenAPI document is truthful: schemathesis runs every operation of a real server with every check (a fixed
seed, a bounded number of examples per operation) and must find no 5xx and no conformance failure. The document
itself is served only to authenticated callers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, start_server, stop_server, workspace_token

pytestmark = pytest.mark.e2e

SEED = 15
MAX_EXAMPLES = int(os.environ.get("NBPLANE_FUZZ_MAX_EXAMPLES", "20"))
_ACCESS_LINE = re.compile(r'" [1-5][0-9][0-9] ')

# Valid data that nbplane still refuses with 400: rules JSON Schema cannot say (content and session path rules,
# kernelspec names, notebook validity, one operation's header combinations), or ids that name nothing (404).
POSITIVE_STATUSES = ["2xx", "400", "401", "404", "409", "412", "413"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Rate limiting off: the fuzzer is one principal sending as fast as it can.
    running = start_server(
        tmp_path_factory.mktemp("fuzz") / "data",
        env={"NBPLANE_RATE_LIMIT_PER_SECOND": "0", "NBPLANE_MAX_KERNELS": "4"},
    )
    yield running
    stop_server(running)


def _config(server: Server, path: Path, pinned: dict[str, str]) -> Path:
    path.write_text(
        "\n".join(
            [
                "[parameters]",
                f'"path.aiDataPlatformId" = "{server.instance_id}"',
                f'"path.workspaceKey" = "{server.workspace_key}"',
                *(f'"path.{name}" = {json.dumps(value)}' for name, value in pinned.items()),
                "",
                "[auth.openapi.workspaceToken]",
                f'api_key = "token {workspace_token(server)}"',
                "",
                "[checks.positive_data_acceptance]",
                f"expected-statuses = {json.dumps(POSITIVE_STATUSES)}",
                "",
            ]
        )
    )
    return path


def run_schemathesis(
    server: Server,
    workdir: Path,
    document: dict[str, object],
    *,
    pinned: dict[str, str] | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> tuple[int, dict[str, int], str]:
    """Run `st run` against the server; its exit code, the counts from its JSON report and its output.
    `pinned` fixes path parameters (to ids that exist), so operations get past their 404s."""
    schema_file = workdir / "openapi.json"
    schema_file.write_text(json.dumps(document))
    report = workdir / "report.json"
    st = shutil.which("st", path=os.path.dirname(sys.executable)) or "st"
    command = [
        st,
        "--config-file",
        str(_config(server, workdir / "schemathesis.toml", pinned or {})),
        "run",
        str(schema_file),
        "--url",
        server.endpoint,
        "--tls-verify",
        server.ca_bundle,
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(max_examples),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",  # schemathesis's generation is not thread-safe on Python 3.11 (SystemError in ast, seen with 2)
        "--no-shrink",
        "--request-timeout",
        "120",
        "--continue-on-failure",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500, check=False)
    counts: dict[str, int] = {}
    if report.exists():
        counts = _counts(json.loads(report.read_text()))
    return result.returncode, counts, result.stdout + result.stderr


def _counts(report: dict[str, Any]) -> dict[str, int]:
    """Operations tested, test cases generated and failures, from schemathesis's JSON report."""
    cases = report.get("test_cases", {})
    return {
        "operations": int(report.get("operations", {}).get("tested", 0)),
        "test_cases": int(cases.get("generated", 0)),
        "failures": int(cases.get("unique_failures", 0)),
        "errors": len(report.get("errors", [])),
    }


def test_the_document_is_served_to_authenticated_callers_only(server: Server) -> None:
    with server.http(signed=False) as client:
        refused = client.get("/openapi.json")
        assert refused.status_code == 401 and refused.json()["code"] == "NotAuthenticated"
        served = client.get("/openapi.json", headers={"Authorization": f"token {workspace_token(server)}"})
    assert served.status_code == 200
    with server.http() as signed:  # an OCI signature works too
        assert signed.get("/openapi.json").json()["openapi"].startswith("3.")


def _seed(server: Server) -> dict[str, str]:
    """A session (with its kernel) and a file to aim at: real ids for the pinned run."""
    with server.http() as client:
        for kernel in client.get(f"{server.notebook_path}/api/kernels").json():  # the earlier run's, under the quota
            client.delete(f"{server.notebook_path}/api/kernels/{kernel['id']}")
        created = client.post(
            f"{server.sessions_path}", json={"path": "fuzz-seed.ipynb", "kernel": {"name": "python3"}}
        )
        assert created.status_code == 201, created.text
        put = client.put(
            f"{server.notebook_path}/api/contents/fuzz-seed.txt",
            json={"type": "file", "format": "text", "content": "x"},
        )
        assert put.status_code in (200, 201), put.text
    session = created.json()
    return {
        "sessionId": session["id"],
        "kernelId": session["kernel"]["id"],
        "kernelName": "python3",
        "contentPath": "fuzz-seed.txt",
        "objectPath": "fuzz-seed.txt",
    }


@pytest.mark.parametrize("ids", ["fuzzed", "real"])
def test_schemathesis_finds_no_server_error_and_no_conformance_failure(
    server: Server, tmp_path: Path, ids: str
) -> None:
    """Fuzzed path parameters (every operation, most ids unknown: 404s), then ids that exist pinned (so
    operations on a live session, kernel and file get past their 404s), with fewer examples."""
    with server.http() as client:
        document = client.get("/openapi.json").json()
    pinned = _seed(server) if ids == "real" else None
    logged_before = len(_ACCESS_LINE.findall(server.log.read_text()))
    code, counts, output = run_schemathesis(
        server, tmp_path, document, pinned=pinned, max_examples=MAX_EXAMPLES if ids == "fuzzed" else 5
    )
    counts["requests"] = len(_ACCESS_LINE.findall(server.log.read_text())) - logged_before
    summary = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-6000:]
    print(f"schemathesis ({ids} ids) exit {code}, counts {counts}\n{summary}")  # for the CI log and the closing note
    assert code == 0, output[-20000:]
    assert counts["failures"] == 0 and counts["errors"] == 0 and counts["test_cases"] > 0, counts
    assert "Internal Server Error" not in output and "Traceback" not in server.log.read_text()

"""``python -m europeana_sync.fake [--port 8765] [--fixtures DIR] [--faults JSON]``

Serves the fake on 127.0.0.1 for the demo and for trying the sync jobs by hand; prints the
endpoints and demo credentials. Faults can be switched later with
``curl -X POST localhost:8765/_fake/faults -H 'Content-Type: application/json' -d '{"server_errors": 3}'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .app import create_fake_app
from .faults import FaultConfig
from .server import FakeServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m europeana_sync.fake", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--fixtures",
        type=Path,
        default=None,
        help="the shared fixtures/europeana folder; default: built-in synthetic records",
    )
    parser.add_argument("--faults", default="{}", help="JSON object of FaultConfig fields")
    args = parser.parse_args(argv)
    try:
        faults = FaultConfig(**json.loads(args.faults))
    except (TypeError, ValueError) as exc:
        parser.error(f"--faults: {exc}")
    app = create_fake_app(args.fixtures, faults)
    server = FakeServer(app, host=args.host, port=args.port).start()
    state = server.state
    print(f"europeana fake ({state.source}, {len(state.records)} records) on {server.url}")
    print(f"  Search/Record/Annotations API base: {server.endpoints.europeana_api}")
    print(f"  OIDC token URL: {server.endpoints.token_url}")
    print(f"  WITH base: {server.endpoints.with_api}  (collection {state.with_store.collection_id})")
    print("  API key: any non-empty string; OIDC client artsnap-curator / curator-secret (write),")
    print("  artsnap-reader / reader-secret (read only); WITH curator@artsnap.test (or curator) / with-password")
    print(f"  admin: {server.url}/_fake/info, /_fake/faults, /_fake/requests")
    try:
        server.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

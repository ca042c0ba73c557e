#!/usr/bin/env python3
"""A moto server (DynamoDB emulator for tests) that handles ONE request at a time.

Stock ``moto_server`` serves requests on many threads without serialising them, so
concurrent conditional writes race inside moto's backend and some are lost (two
``attribute_not_exists`` puts both succeed, two atomic adds both read the same value).
Real DynamoDB never does that, and our tests rely on those guarantees, so this wrapper
holds one global lock around every request, body included.

It binds 127.0.0.1 only: the emulator accepts any credentials and must not be
reachable from other machines.

Usage:
    python scripts/moto_server.py --port 0 --port-file /tmp/motoport

``--port 0`` lets the OS pick a free port; ``--port-file`` receives the bound port
(written atomically once the socket is listening), so a test harness can wait for the
file instead of polling the port.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from typing import Any, Callable, Iterable

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

HOST = "127.0.0.1"


def install_cheap_transaction_snapshots() -> None:
    """Makes moto's TransactWriteItems rollback snapshot O(items touched), not O(table).

    moto 5.2.5 deep-copies the whole table once per write in every TransactWriteItems
    call, to restore it if the transaction is cancelled. A ledger test grows a table
    to thousands of items, so each transaction gets slower (and the copies bloat the
    process to gigabytes). The snapshot below shares the untouched items (a cancelled
    transaction never mutated them) and deep-copies only the items the transaction
    names, which is exactly what a rollback needs. Semantics are unchanged.
    """
    import copy as _copy
    from collections import defaultdict

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    state = threading.local()

    def as_type(raw: Any) -> Any:
        return raw if isinstance(raw, DynamoType) else DynamoType(raw)

    def snapshot(table: Table) -> Table:
        snap = _copy.copy(table)
        snap.items = defaultdict(dict)
        for hash_key, value in table.items.items():
            snap.items[hash_key] = dict(value) if table.has_range_key else value
        for op in getattr(state, "ops", []):
            if op.get("TableName") != table.name:
                continue
            attrs = op.get("Key") or op.get("Item") or {}
            raw_hash = attrs.get(table.hash_key_attr)
            if raw_hash is None:
                continue
            hash_key = as_type(raw_hash)
            if hash_key not in table.items:
                continue
            if table.has_range_key:
                raw_range = attrs.get(table.range_key_attr)
                range_key = as_type(raw_range) if raw_range is not None else None
                if range_key is not None and range_key in table.items[hash_key]:
                    snap.items[hash_key][range_key] = _copy.deepcopy(table.items[hash_key][range_key])
            else:
                snap.items[hash_key] = _copy.deepcopy(table.items[hash_key])
        return snap

    class CopyShim:
        """Stands in for the `copy` module inside moto.dynamodb.models."""

        copy = staticmethod(_copy.copy)

        @staticmethod
        def deepcopy(obj: Any, memo: Any = None) -> Any:
            if isinstance(obj, Table) and hasattr(state, "ops"):
                return snapshot(obj)
            return _copy.deepcopy(obj, memo)

    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        state.ops = [op for item in transact_items for op in item.values() if isinstance(op, dict)]
        try:
            return original(self, transact_items)
        finally:
            del state.ops

    ddb_models.copy = CopyShim
    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items


class SerialisedApp:
    """WSGI wrapper running the wrapped app for one request at a time.

    The response body is drained inside the lock as well, because a WSGI app may do
    its work lazily while the body is iterated.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def write_port_file(path: str, port: int) -> None:
    """Writes the port atomically so a reader never sees a partial number."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".motoport-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000, help="port to bind (0 = any free port)")
    parser.add_argument("--port-file", help="write the bound port to this file once listening")
    args = parser.parse_args(argv)

    install_cheap_transaction_snapshots()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        HOST,
        args.port,
        SerialisedApp(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    port = server.server_port
    # moto reads MOTO_PORT to build some self-referencing URLs.
    os.environ["MOTO_PORT"] = str(port)

    def stop(_signum: int, _frame: Any) -> None:
        # shutdown() blocks until serve_forever returns, so call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"moto listening on http://{HOST}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

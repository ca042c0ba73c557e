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
    """Makes moto's TransactWriteItems rollback O(items touched), not O(table).

    moto 5.2.5 deep-copies the whole table before every TransactWriteItems call and, when
    the transaction is cancelled, swaps the copy in for the table. A run grows the site's
    partition to tens of thousands of items, so every transaction copied all of them
    (minutes per run, and gigabytes of copies kept alive: a 10,000-keyword run took moto
    past 20 GB). Here the "copy" is an undo log of just the items the transaction names
    (their old values, or their absence); on a cancel the log is applied to the table
    itself, which keeps its identity. Semantics are unchanged.
    """
    import copy as _copy

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    state = threading.local()

    def as_type(raw: Any) -> Any:
        return raw if isinstance(raw, DynamoType) else DynamoType(raw)

    class UndoLog:
        """What a cancelled transaction must put back: (hash, range, old item or None)."""

        def __init__(self, entries: list[tuple[Any, Any, Any]]) -> None:
            self.entries = entries

        def apply(self, table: Table) -> None:
            for hash_key, range_key, old in self.entries:
                if not table.has_range_key:
                    if old is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = old
                    continue
                partition = table.items.get(hash_key)
                if old is None:
                    if partition is not None:
                        partition.pop(range_key, None)
                        if not partition:
                            del table.items[hash_key]
                else:
                    if partition is None:
                        partition = table.items[hash_key] = {}
                    partition[range_key] = old

    def undo_log(table: Table) -> UndoLog:
        entries = []
        for op in getattr(state, "ops", []):
            if op.get("TableName") != table.name:
                continue
            attrs = op.get("Key") or op.get("Item") or {}
            raw_hash = attrs.get(table.hash_key_attr)
            if raw_hash is None:
                continue
            hash_key = as_type(raw_hash)
            partition = table.items.get(hash_key)
            if not table.has_range_key:
                entries.append((hash_key, None, _copy.deepcopy(partition) if partition is not None else None))
                continue
            raw_range = attrs.get(table.range_key_attr)
            if raw_range is None:
                continue
            range_key = as_type(raw_range)
            old = partition.get(range_key) if partition is not None else None
            entries.append((hash_key, range_key, _copy.deepcopy(old) if old is not None else None))
        return UndoLog(entries)

    class CopyShim:
        """Stands in for the `copy` module inside moto.dynamodb.models."""

        copy = staticmethod(_copy.copy)

        @staticmethod
        def deepcopy(obj: Any, memo: Any = None) -> Any:
            if isinstance(obj, Table) and hasattr(state, "ops"):
                return undo_log(obj)
            return _copy.deepcopy(obj, memo)

    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        state.ops = [op for item in transact_items for op in item.values() if isinstance(op, dict)]
        tables = dict(self.tables)
        try:
            return original(self, transact_items)
        finally:
            del state.ops
            for name, table in tables.items():
                swapped_in = self.tables.get(name)
                if isinstance(swapped_in, UndoLog):
                    swapped_in.apply(table)
                    self.tables[name] = table

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

#!/usr/bin/env python3
"""ClickHouse's HTTP interface on loopback, in front of the ClickHouse engine that chdb embeds.

Debian's clickhouse-server (18.16) cannot hold the `otel_traces` schema (no DateTime64, no Map); PyPI's `chdb-core`
embeds a current ClickHouse engine as a library, without a server. This script is that server's HTTP interface,
the part BudObserve's exporter and its tests use, with every statement executed by the engine:

- `GET /ping` and `GET /` answer `Ok.`;
- `POST /?query=…` with a body: the query in the URL, the data in the body (an `INSERT … FORMAT <fmt>` is
  streamed to the engine as that format, binary formats included); without `query`, the body is the query;
- `GET /?query=…`: a read-only query;
- `database=` selects the current database, `default_format=` the output format (TabSeparated otherwise);
- `Content-Encoding: gzip` request bodies are decompressed;
- credentials from `X-ClickHouse-User`/`X-ClickHouse-Key`, basic auth, or `user`/`password` parameters, checked
  against `--user`/`--password`;
- failures answer ClickHouse's status and error text (`Code: N. DB::Exception: …`) with the
  `X-ClickHouse-Exception-Code` header.

Usage: clickhouse_http.py --data DIR [--host 127.0.0.1] [--port 8123] [--user default] [--password '']
                          [--exit-with-stdin]
Prints `listening on http://HOST:PORT` once it accepts connections (`--port 0` picks a free port). With
`--exit-with-stdin` it exits when its standard input closes (a test process that started it ended).
"""

import argparse
import base64
import gzip
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from chdb import session

INSERT_WITH_FORMAT = re.compile(r"^\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
MODIFYING = re.compile(
    r"^\s*(INSERT|CREATE|DROP|ALTER|TRUNCATE|RENAME|OPTIMIZE|ATTACH|DETACH|DELETE|UPDATE|SYSTEM|KILL|GRANT|REVOKE)\b",
    re.IGNORECASE,
)
CODE = re.compile(r"Code:\s*(\d+)")

# The HTTP status ClickHouse answers for the codes that are not 500.
STATUS = {
    16: 400,  # NO_SUCH_COLUMN_IN_TABLE
    27: 400,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    47: 400,  # UNKNOWN_IDENTIFIER
    53: 400,  # TYPE_MISMATCH
    60: 404,  # UNKNOWN_TABLE
    62: 400,  # SYNTAX_ERROR
    81: 404,  # UNKNOWN_DATABASE
    117: 400,  # INCORRECT_DATA
    164: 403,  # READONLY
    516: 403,  # AUTHENTICATION_FAILED
}


class Engine:
    """One chdb session; statements run one at a time (the session is not shared between threads)."""

    def __init__(self, path):
        self.session = session.Session(path)
        self.lock = threading.Lock()

    def run(self, database, query, data, output_format):
        with self.lock:
            self.session.query(f"USE `{database}`", "TabSeparated")
            insert = INSERT_WITH_FORMAT.match(query) if data else None
            if insert:
                inserter = self.session.send_insert(insert.group(1), insert.group(2))
                try:
                    inserter.append(data)
                    inserter.finish()
                except BaseException:
                    inserter.cancel()
                    raise
                return b""
            if data:
                query = query + "\n" + data.decode("utf-8")
            return self.session.query(query, output_format).bytes()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClickHouse-chdb"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):
        self.handle_query(read_only=True)

    def do_POST(self):
        self.handle_query(read_only=False)

    def handle_query(self, read_only):
        url = urlsplit(self.path)
        params = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path in ("/ping", "/") and not params.get("query") and not body:
            return self.answer(200, b"Ok.\n")
        if not self.authenticated(params):
            return self.fail(
                "Code: 516. DB::Exception: {}: Authentication failed: password is incorrect, or there is no user "
                "with such name. (AUTHENTICATION_FAILED)".format(self.user(params))
            )
        try:
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
        except OSError as err:
            return self.fail(f"Code: 432. DB::Exception: Cannot decompress the request body: {err}. (UNKNOWN_CODEC)")
        query = params.get("query")
        data = body
        if query is None:
            query, data = body.decode("utf-8"), b""
        if read_only and MODIFYING.match(query):
            return self.fail(
                "Code: 164. DB::Exception: Cannot execute query in readonly mode. "
                "For queries over HTTP, method GET implies readonly. You should use method POST for modifying "
                "queries. (READONLY)"
            )
        try:
            output = self.server.engine.run(
                params.get("database") or "default", query, data, params.get("default_format") or "TabSeparated"
            )
        except Exception as err:  # every engine error goes back to the client, as the server does
            return self.fail(str(err))
        return self.answer(200, output)

    def user(self, params):
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, _ = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            return user
        return self.headers.get("X-ClickHouse-User") or params.get("user") or "default"

    def authenticated(self, params):
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        else:
            user = self.headers.get("X-ClickHouse-User") or params.get("user") or "default"
            password = self.headers.get("X-ClickHouse-Key") or params.get("password") or ""
        return user == self.server.user and password == self.server.password

    def fail(self, message):
        match = CODE.search(message)
        if match:
            # chdb's wrappers prefix the engine's text ("Streaming insert finish failed: "); the server sends it bare.
            message = message[match.start() :]
        code = int(match.group(1)) if match else 1001
        self.answer(STATUS.get(code, 500), (message.rstrip() + "\n").encode("utf-8"), code)

    def answer(self, status, body, code=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        if code is not None:
            self.send_header("X-ClickHouse-Exception-Code", str(code))
        self.end_headers()
        self.wfile.write(body)


def exit_with_stdin():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the engine's data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default="")
    parser.add_argument("--exit-with-stdin", action="store_true")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.engine = Engine(args.data)
    server.user = args.user
    server.password = args.password
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    if args.exit_with_stdin:
        threading.Thread(target=exit_with_stdin, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""ClickHouse's HTTP interface on loopback, in front of the ClickHouse engine that chdb embeds.

Debian's clickhouse-server (18.16) cannot hold the `otel_traces` schema (no DateTime64, no Map); PyPI's `chdb-core`
embeds a current ClickHouse engine as a library, without a server. This script is that server's HTTP interface,
the part BudObserve's exporter and its tests use, with every statement executed by the engine:

- `GET /ping` and `GET /` answer `Ok.`;
- `POST /?query=…` with a body: the query in the URL, the data in the body (an `INSERT … FORMAT <fmt>`, with or
  without a column list, is streamed to the engine as that format, binary formats included); without `query`, the
  body is the query, or an `INSERT … FORMAT <fmt>` line followed by its data;
- `GET /?query=…`: a read-only query;
- `database=` selects the current database, `default_format=` the output format (TabSeparated otherwise); other
  settings in the URL (`async_insert=1`, say) are accepted and not applied: every insert is stored before the
  answer, which an asynchronous insert with `wait_for_async_insert=1` (the default) also guarantees;
- request bodies as clients send them: `Content-Length` or `Transfer-Encoding: chunked`; `Content-Encoding:
  gzip`, `deflate`, `zstd` or `lz4` (frame); `decompress=1` bodies in ClickHouse's own compressed blocks (a 16-byte
  checksum, the method byte — 0x82 LZ4, 0x90 ZSTD, 0x02 none — the compressed and the plain sizes, the data). The
  checksum (CityHash128) is not verified; the sizes are, and a block that does not decompress is refused as the
  server refuses it (Code 271, CANNOT_DECOMPRESS);
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
import struct
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import lz4.block
import lz4.frame
import zstandard
from chdb import session

INSERT_WITH_FORMAT = re.compile(r"^\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
# An insert sent in the body: its query on the first line, its data after it.
INSERT_IN_BODY = re.compile(rb"^\s*(INSERT\s+INTO\s+[^\n]*?\s+FORMAT\s+\w+)[ \t]*\r?\n", re.IGNORECASE)
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
    271: 400,  # CANNOT_DECOMPRESS
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
        try:
            body = self.read_body()
        except ValueError as err:
            return self.fail(f"Code: 33. DB::Exception: Cannot read all data: {err}. (CANNOT_READ_ALL_DATA)")
        if url.path in ("/ping", "/") and not params.get("query") and not body:
            return self.answer(200, b"Ok.\n")
        if not self.authenticated(params):
            return self.fail(
                "Code: 516. DB::Exception: {}: Authentication failed: password is incorrect, or there is no user "
                "with such name. (AUTHENTICATION_FAILED)".format(self.user(params))
            )
        try:
            body = decode_content(self.headers.get("Content-Encoding", ""), body)
        except (OSError, ValueError, RuntimeError, zstandard.ZstdError) as err:
            return self.fail(f"Code: 432. DB::Exception: Cannot decompress the request body: {err}. (UNKNOWN_CODEC)")
        if params.get("decompress") == "1":
            try:
                body = decompress_blocks(body)
            except ValueError as err:
                return self.fail(f"Code: 271. DB::Exception: {err}. (CANNOT_DECOMPRESS)")
        query = params.get("query")
        data = body
        if query is None:
            insert = INSERT_IN_BODY.match(body)
            if insert:
                query, data = insert.group(1).decode("utf-8"), body[insert.end() :]
            else:
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

    def read_body(self):
        """The request body, sent with a length or in chunks."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("the chunked body ended early")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ValueError("a chunk ended early")
                chunks.append(chunk)
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise ValueError(f"expected {length} bytes, got {len(body)}")
        return body

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


def decode_content(encoding, body):
    """A body under `Content-Encoding` (gzip, deflate, zstd or an lz4 frame), decoded."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    if encoding == "lz4":
        return lz4.frame.decompress(body)
    raise ValueError(f"unknown Content-Encoding {encoding!r}")


# ClickHouse's compressed blocks: checksum (16), method (1), compressed size with the 9-byte header (4), plain size (4).
BLOCK_HEADER = 25
METHODS = {0x82: "LZ4", 0x90: "ZSTD", 0x02: "NONE"}


def decompress_blocks(body):
    """The data of a `decompress=1` body: its ClickHouse compressed blocks, one after another, decompressed."""
    out = []
    at = 0
    while at < len(body):
        if len(body) - at < BLOCK_HEADER:
            raise ValueError(f"a compressed block at byte {at} is cut short")
        method = body[at + 16]
        compressed, plain = struct.unpack_from("<II", body, at + 17)
        end = at + 16 + compressed
        if compressed < 9 or end > len(body):
            raise ValueError(f"the compressed block at byte {at} claims {compressed} bytes, the body has fewer")
        data = body[at + BLOCK_HEADER : end]
        try:
            if method == 0x82:
                block = lz4.block.decompress(data, uncompressed_size=plain)
            elif method == 0x90:
                block = zstandard.ZstdDecompressor().decompress(data, max_output_size=plain)
            elif method == 0x02:
                block = data
            else:
                raise ValueError(f"unknown compression method 0x{method:02x}")
        except (lz4.block.LZ4BlockError, zstandard.ZstdError) as err:
            raise ValueError(f"cannot decompress a {METHODS[method]} block: {err}") from err
        if len(block) != plain:
            raise ValueError(f"a {METHODS.get(method, '?')} block holds {len(block)} bytes, its header says {plain}")
        out.append(block)
        at = end
    return b"".join(out)


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

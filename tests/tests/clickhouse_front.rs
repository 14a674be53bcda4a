//! The reference ClickHouse front (`scripts/clickhouse_http.py`) takes inserts as ClickHouse's HTTP interface takes
//! them from real clients: chunked bodies, `decompress=1` bodies in ClickHouse's compressed blocks (none, LZ4,
//! ZSTD), `Content-Encoding: gzip`, the query in the body ahead of its data — and refuses a broken block as the
//! server does.

mod common;

use std::io::Write as _;

use common::clickhouse::{query, shared_url};

fn table(url: &str, name: &str) -> String {
    let table = format!("f{}_{name}", std::process::id());
    query(url, &format!("CREATE TABLE {table} (n UInt32, word String) ENGINE = MergeTree ORDER BY n"));
    table
}

fn stored(url: &str, table: &str) -> String {
    query(url, &format!("SELECT n, word FROM {table} ORDER BY n FORMAT TSV"))
}

const ROWS: &str = "1\tone\n2\ttwo\n3\tthree\n";

/// `data` as one of ClickHouse's compressed blocks: a checksum (not checked by the front), the method, the
/// compressed size with the 9-byte header, the plain size, and the data.
fn block(method: u8, compressed: &[u8], plain: usize) -> Vec<u8> {
    let mut out = vec![0; 16];
    out.push(method);
    out.extend_from_slice(&u32::try_from(compressed.len() + 9).unwrap().to_le_bytes());
    out.extend_from_slice(&u32::try_from(plain).unwrap().to_le_bytes());
    out.extend_from_slice(compressed);
    out
}

/// `data` as an LZ4 block of literals only (the format allows a block that never refers back).
fn lz4_literals(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let length = data.len();
    out.push(u8::try_from(length.min(15)).unwrap() << 4);
    if length >= 15 {
        let mut rest = length - 15;
        while rest >= 255 {
            out.push(255);
            rest -= 255;
        }
        out.push(u8::try_from(rest).unwrap());
    }
    out.extend_from_slice(data);
    out
}

/// `data` as a ZSTD frame of one raw block (single segment, content size in one byte, no checksum).
fn zstd_raw(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x20, u8::try_from(data.len()).unwrap()];
    let header = 1 | (u32::try_from(data.len()).unwrap() << 3);
    out.extend_from_slice(&header.to_le_bytes()[..3]);
    out.extend_from_slice(data);
    out
}

fn insert(url: &str, table: &str, params: &str, body: reqwest::blocking::Body, gzip: bool) -> (u16, String) {
    let query = format!("INSERT INTO {table} FORMAT TSV").replace(' ', "%20");
    let mut request = reqwest::blocking::Client::new().post(format!("{url}/?query={query}{params}")).body(body);
    if gzip {
        request = request.header("Content-Encoding", "gzip");
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn inserts_arrive_as_real_clients_send_them() {
    let url = shared_url();
    // Chunked: a body of unknown length.
    let chunked = table(&url, "chunked");
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(ROWS.as_bytes().to_vec()));
    assert_eq!(insert(&url, &chunked, "", body, false), (200, String::new()));
    assert_eq!(stored(&url, &chunked), ROWS);

    // decompress=1: one block per method, then two blocks in one body.
    for (name, method, compressed) in [
        ("none", 0x02, ROWS.as_bytes().to_vec()),
        ("lz4", 0x82, lz4_literals(ROWS.as_bytes())),
        ("zstd", 0x90, zstd_raw(ROWS.as_bytes())),
    ] {
        let table = table(&url, name);
        let body = block(method, &compressed, ROWS.len());
        assert_eq!(insert(&url, &table, "&decompress=1", body.into(), false), (200, String::new()), "{name}");
        assert_eq!(stored(&url, &table), ROWS, "{name}");
    }
    let two = table(&url, "two_blocks");
    let (first, second) = ROWS.split_at(6);
    let mut body = block(0x82, &lz4_literals(first.as_bytes()), first.len());
    body.extend(block(0x90, &zstd_raw(second.as_bytes()), second.len()));
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(body));
    assert_eq!(insert(&url, &two, "&decompress=1&async_insert=1", body, false), (200, String::new()));
    assert_eq!(stored(&url, &two), ROWS);

    // Content-Encoding: gzip.
    let gzip = table(&url, "gzip");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(ROWS.as_bytes()).unwrap();
    assert_eq!(insert(&url, &gzip, "", encoder.finish().unwrap().into(), true), (200, String::new()));
    assert_eq!(stored(&url, &gzip), ROWS);

    // The insert's query ahead of its data, in the body.
    let in_body = table(&url, "in_body");
    query(&url, &format!("INSERT INTO {in_body} FORMAT TSV\n{ROWS}"));
    assert_eq!(stored(&url, &in_body), ROWS);
}

#[test]
fn a_broken_block_is_refused_as_clickhouse_refuses_it() {
    let url = shared_url();
    let table = table(&url, "broken");
    // The header promises more data than the LZ4 block holds.
    let body = block(0x82, &lz4_literals(ROWS.as_bytes()), ROWS.len() + 10);
    let (status, text) = insert(&url, &table, "&decompress=1", body.into(), false);
    assert_eq!(status, 400, "{text}");
    assert!(text.starts_with("Code: 271. DB::Exception: "), "{text}");
    // A block cut short.
    let mut body = block(0x90, &zstd_raw(ROWS.as_bytes()), ROWS.len());
    body.truncate(body.len() - 4);
    let (status, text) = insert(&url, &table, "&decompress=1", body.into(), false);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("claims"), "{text}");
    assert_eq!(stored(&url, &table), "");
}

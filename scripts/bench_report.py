"""Turns criterion's estimates and the allocation counts into BENCHMARKS.md (printed on stdout)."""

import json
import os
import platform
import subprocess
import sys

criterion_dir, allocations_path, paired_path = sys.argv[1], sys.argv[2], sys.argv[3]
throughput_path = sys.argv[4] if len(sys.argv) > 4 else None
http_path = sys.argv[5] if len(sys.argv) > 5 else None
queries_path = sys.argv[6] if len(sys.argv) > 6 else None
paced_path = sys.argv[7] if len(sys.argv) > 7 else None
otlp_path = sys.argv[8] if len(sys.argv) > 8 else None

SCENARIOS = [
    ("span_3_attributes", "Recorded span, 3 attributes, batch processor → no-op exporter", "budobserve",
     ["raw_sdk_same_attributes", "raw_sdk", "tracing_otel", "fastrace"]),
    ("disabled_log", "Log below the minimum level", "budobserve", ["tracing"]),
    ("disabled_log", "Log below its module's level (directives `info,overhead::db=debug`; tracing: `Targets`)",
     "budobserve_directives", ["budobserve", "tracing_targets"]),
    ("disabled_log", "Log below every directive's level (directives set, trace log)",
     "budobserve_directives_below_floor", ["budobserve"]),
    ("enabled_log_2_attributes", "Enabled log, 2 attributes, formatted, inside a span", "budobserve",
     ["tracing_otel"]),
    ("instrument_2_arguments", "`#[instrument]` on a 2-argument fn vs the same span by hand", "instrument",
     ["hand_written_span"]),
    ("message_formatting", "Message formatting alone vs `format!`", "budobserve", ["format"]),
    ("span_not_sampled", "Span not sampled (sample rate 0; raw SDK: ratio sampler 0)", "budobserve", ["raw_sdk"]),
    ("nested_spans_depth_3_async", "3 nested spans carried across `.await` (tokio, current thread)", "budobserve",
     ["raw_sdk", "tracing_otel"]),
    ("span_10_attributes_scrubbing", "Span with 10 attributes, default scrubbing vs none (`span_exporter`: scrubbed on the worker)",
     "scrubbed", ["unscrubbed"]),
    ("span_10_attributes_scrubbing_on_caller",
     "Span with 10 attributes, default scrubbing vs none (simple processor: scrubbed on the caller's thread)",
     "scrubbed", ["unscrubbed"]),
]

TARGETS = [
    ("span_3_attributes", "budobserve", "raw_sdk_same_attributes", 1.15,
     "recorded `bud_span!` ≤ 1.15× raw SDK with the same attributes and processor"),
    ("span_3_attributes", "budobserve", "tracing_otel", 0.33, "recorded `bud_span!` ≤ 0.33× tracing + tracing-opentelemetry"),
    ("instrument_2_arguments", "instrument", "hand_written_span", 1.05, "`#[instrument]` ≤ 1.05× the hand-written span"),
    ("message_formatting", "budobserve", "format", 1.2, "formatting ≤ 1.2× `format!`"),
    ("span_10_attributes_scrubbing", "scrubbed", "unscrubbed", 1.25,
     "a span with 10 attributes, default scrubbing ≤ 1.25× unscrubbed"),
]


def median(group, name):
    path = os.path.join(criterion_dir, group, name, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except OSError:
        return None


def read_table(path):
    table = {}
    with open(path) as f:
        for line in f:
            key, value = line.rstrip("\n").split("\t")
            table[key] = float(value)
    return table


allocations = read_table(allocations_path)
paired = read_table(paired_path)


def fmt_ns(ns):
    return "—" if ns is None else (f"{ns:.2f}" if ns < 10 else f"{ns:.0f}")


def fmt_alloc(key):
    value = allocations.get(key)
    return "—" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
cpu = "unknown CPU"
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
except OSError:
    pass

out = []
out.append("# Benchmarks\n")
out.append("Written by `scripts/bench.sh` (criterion, release build). Every implementation of a scenario is measured in "
           "the same run, on the same machine, exporting in batches from a worker thread into an exporter that drops "
           "everything (BudObserve through its own batch processor, `span_exporter`; the others through the SDK's, "
           "with the same queue and batch sizes); absolute times move between machines, the **ratios** are the "
           "result. Producers are paced: calls run in blocks of at most 1,024 (half the queue) with the "
           "implementation's flush between blocks, outside the measured time, so that no pipeline drops spans at its "
           "queue and does less work than the others. "
           "Allocations are counted on the calling thread (the batch processor's worker is not counted for anyone).\n")
out.append(f"Machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}; {rustc}.\n")
out.append("| scenario | implementation | median ns/op | allocations/op | BudObserve ÷ this |")
out.append("|---|---|---:|---:|---:|")
for group, title, ours, peers in SCENARIOS:
    ours_ns = median(group, ours)
    out.append(f"| {title} | **{ours}** | {fmt_ns(ours_ns)} | {fmt_alloc(group + '/' + ours)} | |")
    for peer in peers:
        ns = median(group, peer)
        ratio = "—" if ns in (None, 0) or ours_ns is None else f"{ours_ns / ns:.2f}×"
        out.append(f"| | {peer} | {fmt_ns(ns)} | {fmt_alloc(group + '/' + peer)} | {ratio} |")
out.append("")
out.append("## Targets\n")
out.append("A ratio is measured twice: by criterion (each implementation on its own, one after the other) and paired "
           "(both in alternating paced blocks of 1,024 calls over 401 rounds, each block followed by its flush, "
           "medians), which cancels drift and the "
           "exporter thread's varying load. A target is met when both measurements meet it.\n")
out.append("| target | criterion | paired | met |")
out.append("|---|---:|---:|:---:|")
for group, ours, peer, limit, text in TARGETS:
    a, b = median(group, ours), median(group, peer)
    pa, pb = paired.get(f"{group}/{ours}"), paired.get(f"{group}/{peer}")
    criterion_ratio = None if a is None or b is None else a / b
    paired_ratio = None if pa is None or pb is None else pa / pb
    shown = [r for r in (criterion_ratio, paired_ratio) if r is not None]
    met = "—" if not shown else ("yes" if all(r <= limit for r in shown) else "no")
    cell = lambda r: "—" if r is None else f"{r:.2f}×"
    out.append(f"| {text} | {cell(criterion_ratio)} | {cell(paired_ratio)} | {met} |")
scrubbed_here = median("span_10_attributes_scrubbing_on_caller", "scrubbed")
unscrubbed_here = median("span_10_attributes_scrubbing_on_caller", "unscrubbed")
if scrubbed_here is not None and unscrubbed_here is not None:
    scrub_cost = scrubbed_here - unscrubbed_here
    out.append(f"| scrubbing's cost per 10-attribute span, on the thread that scrubs (the export worker's, in services) "
               f"| {scrub_cost:.0f} ns | — | — |")
disabled = median("disabled_log", "budobserve")
disabled_allocs = allocations.get("disabled_log/budobserve")
if disabled is not None:
    met = disabled <= 2.0 and (disabled_allocs or 0) == 0
    out.append(f"| disabled-level log ≤ 2 ns and 0 allocations | {disabled:.2f} ns, "
               f"{fmt_alloc('disabled_log/budobserve')} allocations | — | {'yes' if met else 'no'} |")
out.append("")
if paced_path:
    with open(paced_path) as f:
        paced = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    titles = {
        "recorded_span": "A span with three dynamic values (`bud_span!`; the raw SDK's span with the same three)",
        "instrument": "An instrumented two-argument function (`#[budobserve::instrument]`, `#[tracing::instrument]`, "
                      "`#[fastrace::trace]`)",
    }
    if paced:
        out.append("## Paced and counted\n")
        out.append("As `budobserve/examples/paced_spans.rs` runs them: dynamic values (an integer and a float that change "
                   "with every span, a string chosen at run time), every producer paced in blocks of 1,024 spans with an "
                   "untimed flush between, so that no implementation drops a span at its queue, and every exporter "
                   "counting what it received (*exported* must equal *produced*, or the run fails). Implementations "
                   "interleaved block by block; *mean* is the median over blocks timed whole, *p50*/*p99* come from "
                   "blocks timing each span alone (the clock's own cost is in them). `tracing_otel` is "
                   "`tracing-opentelemetry`'s layer with its default settings, `tracing_otel_lean` with location, "
                   "threads, inactivity, level and target off; fastrace's local spans run under a root per 256 (the "
                   "roots not counted as spans); `logfire_rust` is Pydantic's Rust SDK 0.13.1 (`logfire::span!`, "
                   "its pending-span records not counted), built in a workspace of its own (`peers/logfire`). The criterion table above is paced the same way; these tables also "
                   "check, implementation by implementation, that every span produced was exported.\n")
        for scenario in dict.fromkeys(row[0] for row in paced):
            rows = [row[1:] for row in paced if row[0] == scenario]
            ours = next(float(row[2]) for row in rows if row[0] == "budobserve")
            ours_p99 = next(float(row[4]) for row in rows if row[0] == "budobserve")
            out.append(f"{titles.get(scenario, scenario)}:\n")
            out.append("| implementation | produced | exported | mean ns/span | BudObserve ÷ this | p50 ns | p99 ns | BudObserve p99 ÷ this |")
            out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
            for name, produced, mean, p50, p99, exported in rows:
                ratio = "" if name == "budobserve" else f"{ours / float(mean):.2f}×"
                ratio_p99 = "" if name == "budobserve" else f"{ours_p99 / float(p99):.2f}×"
                shown = f"**{name}**" if name == "budobserve" else name
                out.append(f"| {shown} | {int(produced):,} | {int(exported):,} | {float(mean):,.0f} | {ratio} | "
                           f"{int(p50):,} | {int(p99):,} | {ratio_p99} |")
            out.append("")
if otlp_path:
    with open(otlp_path) as f:
        otlp = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if otlp:
        ours = next(float(row[2]) for row in otlp if row[0] == "budobserve")
        out.append("## OTLP/HTTP end to end\n")
        out.append("Spans per second from the caller's thread to a receiver on loopback that decodes every request "
                   "(`budobserve/examples/otlp_throughput.rs`): BudObserve, and the raw SDK with `opentelemetry-otlp` "
                   "sending the same data (the ten attributes `bud_span!` writes, three of them dynamic), both through a "
                   "batch processor (2,048 / 512) and HTTP/protobuf. Paced in blocks of 1,024 spans, each followed by a "
                   "timed flush (BudObserve's flushes its metrics and logs too, concurrently), interleaved; the receiver "
                   "decoded every span produced, or the run fails.\n")
        out.append("| implementation | spans | spans/s end to end | BudObserve's rate ÷ this | bytes received per span |")
        out.append("|---|---:|---:|---:|---:|")
        for name, spans, rate, size in otlp:
            ratio = "" if name == "budobserve" else f"{ours / float(rate):.2f}×"
            shown = f"**{name}**" if name == "budobserve" else name
            out.append(f"| {shown} | {int(spans):,} | {float(rate):,.0f} | {ratio} | {size} |")
        out.append("")
if throughput_path:
    with open(throughput_path) as f:
        runs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if runs:
        base = float(runs[0][2])
        out.append("## Throughput into ClickHouse (BudMetrics)\n")
        out.append("Spans recorded by `bud_span!` (a chat request's span: template with two values, bud context, tags, "
                   "three `gen_ai` attributes), batched by BudObserve's batch processor (512 spans per insert, the default, or 4,096), encoded, "
                   "sent over HTTP and stored in `otel_traces` of the local ClickHouse (`scripts/clickhouse.sh`: the "
                   "ClickHouse engine of chdb-core behind a Python HTTP front, so the server side is slower than a "
                   "native server's and the end-to-end figure is a floor). Every span is checked stored; none "
                   "dropped. *Encoded* is the exporter's row encoding alone, on one thread; *bytes/span* is the size of 512 such spans on the wire divided by 512 (gzip shrinks these near-identical spans far more than varied traffic). *In flight* is the most inserts sent at once (`max_concurrent_inserts`, 2 by default): while the server stores one batch the next is encoded and sent. RowBinary is the default: it encodes several times faster and 40% smaller than JSONEachRow, while end to end both are bound by the server here (this front runs one statement at a time, so a second insert in flight overlaps only the client's work and the transfer); larger inserts are what raise the end-to-end rate most.\n")
        out.append("| wire format | in flight | spans | end to end, spans/s | ÷ first row | encoded, spans/s | bytes/span sent |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, spans, end_to_end, encoded, size, in_flight in runs:
            ratio = float(end_to_end) / base
            out.append(f"| {name} | {in_flight} | {int(spans):,} | {float(end_to_end):,.0f} | {ratio:.2f}× | "
                       f"{float(encoded):,.0f} | {size} |")
        out.append("")
if http_path:
    rates = {}
    with open(http_path) as f:
        for line in f:
            if line.strip():
                mode, _round, rps = line.rstrip("\n").split("\t")
                rates.setdefault(mode, []).append(float(rps))
    if {"none", "budobserve", "tower-http"} <= rates.keys():
        med = {mode: sorted(values)[len(values) // 2] for mode, values in rates.items()}
        us = {mode: 1e6 / rps for mode, rps in med.items()}
        out.append("## HTTP server layer, per request\n")
        out.append("A hello-world axum handler (`budobserve/examples/http_server_bench.rs`, one tokio worker thread) under "
                   "`wrk -t1 -c16` on loopback, the load generator on the other core: without instrumentation, with "
                   "BudObserve's `ServerLayer`, and with tower-http's `TraceLayer` through `tracing-opentelemetry`; "
                   "spans into a batch processor and an exporter that drops everything. Modes interleaved over "
                   f"{len(rates['none'])} rounds; medians. The time per request is the inverse of the throughput (the "
                   "server's core is saturated); the overhead is what the layer adds to it. For that overhead BudObserve's layer records more than `TraceLayer`'s default span: the semantic conventions' attributes (method, path, scheme, route, status, server address and port, protocol version), a request id carried in the bud context and echoed back, and the `http.server.request.duration` histogram.\n")
        out.append("| server | requests/s | µs per request | overhead, µs | overhead ÷ tower-http's |")
        out.append("|---|---:|---:|---:|---:|")
        base = us["none"]
        peer = us["tower-http"] - base
        for mode in ("none", "budobserve", "tower-http"):
            overhead = us[mode] - base
            ratio = "" if mode == "none" or peer <= 0 else f"{overhead / peer:.2f}×"
            out.append(f"| {mode} | {med[mode]:,.0f} | {us[mode]:.2f} | {overhead:.2f} | {ratio} |")
        out.append("")
if queries_path:
    with open(queries_path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if rows:
        out.append("## Database integrations, per query\n")
        out.append("One query at a time on loopback against the local PostgreSQL and Redis (`budobserve/examples/"
                   "db_bench.rs`): a plain `PgPool` / multiplexed connection and the instrumented one, 2,000 queries per "
                   "round, 7 rounds interleaved, medians. The instrumented side writes a client span per query (and, for "
                   "sqlx, a debug-level span for the connection wait). A pool acquire checks the connection first "
                   "(sqlx's default), on both sides. The client, the database server and BudObserve's export thread "
                   "share this machine's two cores, so the overhead moves a lot between runs (this session: sqlx +0 to "
                   "+29 µs, redis +3 to +15 µs per query); on a service whose database runs elsewhere the export "
                   "thread competes with less.\n")
        out.append("| query | plain, µs | instrumented, µs | overhead, µs | ratio |")
        out.append("|---|---:|---:|---:|---:|")
        for name, plain, instrumented in rows:
            plain, instrumented = float(plain), float(instrumented)
            out.append(f"| {name} | {plain:.2f} | {instrumented:.2f} | {instrumented - plain:.2f} | "
                       f"{instrumented / plain:.2f}× |")
        out.append("")
notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_notes.md")
if os.path.exists(notes):
    with open(notes) as f:
        out.append(f.read().rstrip() + "\n")
print("\n".join(out))

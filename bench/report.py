#!/usr/bin/env python3
"""Formatting helpers for bench/run: hyperfine tables, Go benchmark tables, the goals table,
and replacing generated sections of docs/BENCHMARKS.md.

  report.py hyperfine RESULT.json BASELINE          markdown table, ratios to BASELINE
  report.py gobench BENCH.txt                       markdown table of `go test -bench` output
  report.py goals HEALTHY.json HANG.json FOOT.md BENCH.txt SCALE.md   the goals table
  report.py put DOC NAME FILE                       replace section NAME of DOC with FILE

A section is the text between "<!-- begin bench/run NAME -->" and
"<!-- end bench/run NAME -->"; put appends it to DOC when DOC has no such markers.
"""
import json
import re
import sys


def load_hyperfine(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}


def ms(seconds):
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def hyperfine_table(path, baseline):
    res = load_hyperfine(path)
    base = res[baseline]["median"]
    out = ["| command | runs | median (ms) | mean ± σ (ms) | min (ms) | max (ms) | median × " + baseline + " |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in res.items():
        out.append(f"| {name} | {len(r['times'])} | {ms(r['median'])} | {ms(r['mean'])} ± {ms(r['stddev'] or 0)} "
                   f"| {ms(r['min'])} | {ms(r['max'])} | {r['median'] / base:.2f} |")
    return "\n".join(out)


BENCH_LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def gobench_table(path):
    out = ["| package | benchmark | time/op | B/op | allocs/op |", "|---|---|---:|---:|---:|"]
    pkg = ""
    for line in open(path):
        if line.startswith("pkg: "):
            pkg = line.split()[1].removeprefix("github.com/axprobe/axprobe/")
            continue
        m = BENCH_LINE.match(line.strip())
        if not m:
            continue
        fields = dict((unit, value) for value, unit in re.findall(r"([\d.]+) (\S+)", m.group(3)))
        ns = float(fields.get("ns/op", "nan"))
        t = f"{ns:.0f} ns" if ns < 1e4 else f"{ns / 1e3:.1f} µs" if ns < 1e7 else f"{ns / 1e6:.2f} ms"
        out.append(f"| {pkg} | {m.group(1)} | {t} | {fields.get('B/op', '–')} | {fields.get('allocs/op', '–')} |")
    return "\n".join(out)


def footprint_rows(path):
    """The axprobe and blackbox_exporter rows of axbench footprint's table: CPU s, RSS mean,
    RSS at the start and at the end (MiB)."""
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 10 and cells[0] in ("axprobe", "blackbox_exporter"):
            start, end = (float(x.split()[0]) for x in cells[9].split("→"))
            rows[cells[0]] = (float(cells[2].split()[0]), float(cells[5].split()[0]), start, end)
    return rows


def bench_ns(path, name):
    """ns/op of the benchmark named name (sub-benchmarks included), or None."""
    for line in open(path):
        m = BENCH_LINE.match(line.strip())
        if m and m.group(1) == name:
            found = re.search(r"([\d.]+) ns/op", m.group(3))
            return float(found.group(1)) if found else None
    return None


def scale_row(path, asked):
    """(ran probes/s, daemon CPU %, goroutines, fds) of axbench scale's row for the asked
    rate, or None."""
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 13 and cells[0] == str(asked):
            return float(cells[2]), float(cells[4].rstrip(" %")), cells[7], cells[8]
    return None


def scale_max_concurrent(path):
    """The max_concurrent_probes axbench scale ran the daemons with, or None."""
    for line in open(path):
        m = re.search(r"max_concurrent_probes (\d+)", line)
        if m:
            return int(m.group(1))
    return None


def first_scale_row(path):
    """scale_row of the lowest rate axbench scale ran (its first row)."""
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 13 and cells[0].isdigit():
            return scale_row(path, int(cells[0]))
    return None


def score_allocs(path):
    """allocs/op of internal/score's BenchmarkObserve, the score update."""
    for line in open(path):
        m = BENCH_LINE.match(line.strip())
        if m and m.group(1) == "BenchmarkObserve":
            found = re.search(r"([\d.]+) allocs/op", m.group(3))
            return float(found.group(1)) if found else None
    return None


def goals_table(healthy, hang, footprint, gobench, scale):
    h = load_hyperfine(healthy)
    g = load_hyperfine(hang)
    med = lambda res, name: res[name]["median"]
    shim, hello = med(h, "axprobe-monitor"), med(h, "hello-world")
    plugins, blackbox = med(h, "check-plugins chain"), med(h, "blackbox_exporter chain")
    hang_shim, hang_plugins = med(g, "axprobe-monitor"), med(g, "check-plugins chain")
    fp = footprint_rows(footprint)
    (ax_cpu, ax_rss, ax_rss0, ax_rss1), (bb_cpu, bb_rss, _, _) = fp["axprobe"], fp["blackbox_exporter"]
    met = lambda ok: "**met**" if ok else "**not met**"
    rows = [
        ("monitor answer ≤ 2 × hello-world (median)", f"{shim / hello:.2f} × ({ms(shim)} vs {ms(hello)} ms)",
         met(shim <= 2 * hello)),
        ("≥ 10 × faster than the check-plugin chain (median)", f"{plugins / shim:.0f} × ({ms(shim)} vs {ms(plugins)} ms)",
         met(plugins >= 10 * shim)),
        ("faster than the blackbox_exporter chain (median)", f"{blackbox / shim:.0f} × ({ms(shim)} vs {ms(blackbox)} ms)",
         met(blackbox > shim)),
        ("answer stays bounded with Dovecot hung", f"{ms(hang_shim)} ms (plugins: {ms(hang_plugins)} ms)",
         met(hang_shim <= 2 * shim + 0.05)),
        ("daemon CPU ≤ 0.7 × blackbox_exporter's, same checks at the same rate", f"{ax_cpu / bb_cpu:.2f} × ({ax_cpu:.2f} s vs {bb_cpu:.2f} s)",
         met(ax_cpu <= 0.7 * bb_cpu)),
        ("daemon RSS < 20 MiB (mean), flat (end ≤ start + 1 MiB)",
         f"{ax_rss:.1f} MiB mean, {ax_rss0:.1f} → {ax_rss1:.1f} MiB (blackbox_exporter {bb_rss:.1f} MiB)",
         met(ax_rss < 20 and ax_rss1 <= ax_rss0 + 1)),
    ]
    sc, low, pool = scale_row(scale, 1000), first_scale_row(scale), scale_max_concurrent(scale)
    if sc is not None and low is not None and pool is not None:
        ran, cpu, gor, fds = sc
        _, _, gor0, fds0 = low
        # Growth is what the number of targets adds beyond the probes in flight: a probe in
        # flight is one goroutine (it ends with the probe) and one connection, and at most
        # max_concurrent_probes are in flight, so each may grow by that many and no more.
        grew = int(gor) > int(gor0) + pool or int(fds) > int(fds0) + pool
        rows.append(("1,000 probes/s on < 1 core, no goroutine or fd growth",
                     f"{ran:.0f} probes/s ran on {cpu:.0f} % of one core; from the lowest rate goroutines {gor0} → {gor}, "
                     f"fds {fds0} → {fds} (each ≤ + max_concurrent_probes {pool})",
                     met(ran >= 950 and cpu < 100 and not grew)))
    scrape = bench_ns(gobench, "BenchmarkMetricsScrape/checks=1002/gzip=true")
    rows.append(("/metrics for 1,000 checks in < 50 ms (BenchmarkMetricsScrape, gzip)",
                 "not run" if scrape is None else f"{scrape / 1e6:.1f} ms", met(scrape is not None and scrape < 50e6)))
    allocs = score_allocs(gobench)
    rows.append(("score update: 0 allocs/op (BenchmarkObserve)",
                 "not run" if allocs is None else f"{allocs:g} allocs/op", met(allocs == 0)))
    out = ["| goal | measured | verdict |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def put(doc, name, path):
    body = open(path).read().strip("\n")
    begin, end = f"<!-- begin bench/run {name} -->", f"<!-- end bench/run {name} -->"
    text = open(doc).read()
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(doc, "w").write(text)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "hyperfine" and len(args) == 2:
        print(hyperfine_table(*args))
    elif cmd == "gobench" and len(args) == 1:
        print(gobench_table(*args))
    elif cmd == "goals" and len(args) == 5:
        print(goals_table(*args))
    elif cmd == "put" and len(args) == 3:
        put(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

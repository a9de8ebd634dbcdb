#!/usr/bin/env python3
"""Renders the BENCHMARKS.md tables from a results directory written by
bench/run-all.sh (pairs of <scenario>-unisse.json / <scenario>-centrifugo.json).

    bench/tables.py bench/results/2026-11-26 > /tmp/tables.md
"""
import json
import os
import sys


def load(d, name, server):
    p = os.path.join(d, f"{name}-{server}.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError:  # a run that failed or is still writing
            return None


def get(r, *path, default=None):
    for k in path:
        if r is None or not isinstance(r, dict) or k not in r:
            return default
        r = r[k]
    return r


def ms(us):
    return "–" if us is None else (f"{us/1000:.1f} ms" if us >= 1000 else f"{us:.0f} µs")


def num(x, fmt="{:,.0f}"):
    return "–" if x is None else fmt.format(x)


def ratio(u, c):
    if u in (None, 0) or c in (None, 0):
        return "–"
    return f"{u / c:.2f}"


def kib(b):
    return "–" if b is None else (f"{b/1024:.1f} KiB" if b >= 1024 else f"{b:.0f} B")


def idle(d):
    rows = ["| connections | RSS per connection (unisse / Centrifugo, ratio) | CPU per connect (unisse / Centrifugo, ratio) | connect p50 / p99 unisse | connect p50 / p99 Centrifugo | kernel per socket |",
            "|---|---|---|---|---|---|"]
    for n in ("1k", "10k", "19k"):
        u, c = load(d, f"idle-{n}", "unisse"), load(d, f"idle-{n}", "centrifugo")
        if not u:
            continue
        ur, cr = get(u, "server", "rss_per_conn_end"), get(c, "server", "rss_per_conn_end")
        uc, cc = get(u, "server", "cpu_per_connect_us"), get(c, "server", "cpu_per_connect_us")
        rows.append(f"| {get(u,'connections','connected')} | {kib(ur)} / {kib(cr)} ({ratio(ur, cr)}) | {num(uc)} µs / {num(cc)} µs ({ratio(uc, cc)}) | "
                    f"{ms(get(u,'connections','latency','p50_us'))} / {ms(get(u,'connections','latency','p99_us'))} | "
                    f"{ms(get(c,'connections','latency','p50_us'))} / {ms(get(c,'connections','latency','p99_us'))} | "
                    f"{kib(get(u,'kernel','slab_per_socket'))} |")
    return "\n".join(rows)


def delivery_rows(d, names):
    rows = ["| scenario | server | publishes/s | delivered/s | lost | latency p50 / p99 / p999 / max | CPU µs per delivered message | publish call p50 / p99 | events per write |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        for server in ("unisse", "centrifugo"):
            r = load(d, name, server)
            if not r:
                continue
            lat = get(r, "delivery", "latency") or {}
            rows.append(f"| {name} | {server} | {num(get(r,'publish','rate'), '{:,.1f}')} | {num(get(r,'delivery','rate'))} | "
                        f"{num(get(r,'delivery','lost'))} of {num(get(r,'delivery','expected'))} | "
                        f"{ms(lat.get('p50_us'))} / {ms(lat.get('p99_us'))} / {ms(lat.get('p999_us'))} / {ms(lat.get('max_us'))} | "
                        f"{num(get(r,'server','cpu_per_message_us'), '{:.2f}')} | "
                        f"{ms(get(r,'publish','latency','p50_us'))} / {ms(get(r,'publish','latency','p99_us'))} | "
                        f"{num(get(r,'events_per_write','ratio'), '{:.2f}')} |")
    return "\n".join(rows)


def ratios(d, names):
    rows = ["| scenario | delivered/s unisse ÷ Centrifugo | CPU per message unisse ÷ Centrifugo | latency p99 unisse ÷ Centrifugo |",
            "|---|---|---|---|"]
    for name in names:
        u, c = load(d, name, "unisse"), load(d, name, "centrifugo")
        if not u or not c:
            continue
        rows.append(f"| {name} | {ratio(get(u,'delivery','rate'), get(c,'delivery','rate'))} | "
                    f"{ratio(get(u,'server','cpu_per_message_us'), get(c,'server','cpu_per_message_us'))} | "
                    f"{ratio(get(u,'delivery','latency','p99_us'), get(c,'delivery','latency','p99_us'))} |")
    return "\n".join(rows)


def recovery(d):
    rows = ["| | unisse | Centrifugo |", "|---|---|---|"]
    u, c = load(d, "recovery-10k-300", "unisse"), load(d, "recovery-10k-300", "centrifugo")
    if not u:
        return ""
    def w(r, win):
        l = get(r, "recovery", win, "latency") or {}
        return f"{ms(l.get('p50_us'))} / {ms(l.get('p99_us'))} / {ms(l.get('max_us'))}"
    for label, f in [
        ("live latency baseline p50 / p99 / max", lambda r: w(r, "baseline")),
        ("live latency during the storm", lambda r: w(r, "storm")),
        ("live latency after", lambda r: w(r, "after")),
        ("live lost / dups / reorders", lambda r: f"{get(r,'delivery','lost')} / {get(r,'delivery','dups')} / {get(r,'delivery','reorders')}"),
        ("recovered connects", lambda r: f"{get(r,'recovery','recovered')} of {get(r,'recovery','target')}"),
        ("storm duration", lambda r: f"{get(r,'recovery','duration_ns',default=0)/1e9:.2f} s"),
        ("recovering connects/s", lambda r: num(get(r, 'recovery', 'rate'))),
        ("CPU per recovering connect (net of live traffic)", lambda r: f"{num(get(r,'recovery','server','cpu_per_connect_us'))} µs ({num(get(r,'recovery','server','net_cpu_per_connect_us'))} µs)"),
        ("server RSS growth per recovering connection", lambda r: kib(get(r, 'recovery', 'server', 'rss_per_conn'))),
    ]:
        rows.append(f"| {label} | {f(u)} | {f(c) if c else '–'} |")
    return "\n".join(rows)


def churn(d):
    rows = ["| server | conns | churn/s | churned | errors | lost | RSS growth | latency p99 |", "|---|---|---|---|---|---|---|---|"]
    for server in ("unisse", "centrifugo"):
        r = load(d, "churn-5k", server)
        if not r:
            continue
        errs = sum(get(r, "connections", k, default=0) for k in ("connect_errors", "connect_timeouts", "http_errors", "server_closed"))
        growth = get(r, "server", "churn_rss_growth", default=0)
        rows.append(f"| {server} | {get(r,'config','conns')} | {get(r,'config','churn_rate')} | {num(get(r,'connections','churned'))} | {errs} | "
                    f"{num(get(r,'delivery','lost'))} | {growth/1048576:+.1f} MiB | {ms(get(r,'delivery','latency','p99_us'))} |")
    return "\n".join(rows)


def main():
    d = sys.argv[1]
    bcast = [f"bcast-{n}-{r}" for n in ("1k", "10k", "19k") for r in ("10", "100", "max")]
    chans = ["channels-10k-10k", "channels-10k-10k-bcast"]
    print("### Idle connections\n")
    print(idle(d))
    print("\n### Broadcast to one channel\n")
    print(delivery_rows(d, bcast))
    print("\nRatios:\n")
    print(ratios(d, bcast))
    print("\n### 10,000 subscribers on 10,000 channels\n")
    print(delivery_rows(d, chans))
    print("\n### Churn\n")
    print(churn(d))
    print("\n### Recovery storm\n")
    print(recovery(d))


if __name__ == "__main__":
    main()

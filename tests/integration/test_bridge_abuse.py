#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""car-bridge under bad input and faults: huge lines, binary, slowloris,
connection floods, a watcher that never reads, the car, the broker and the
bridge itself going away. Each case gets its documented outcome, the
bridge's memory stays put, and other clients keep getting answers."""
import os
import socket
import threading
import time

from harness import (DEADLINE_S, Broker, Tcp, check, main, wait_until,
                     world)

# ASan's quarantine keeps freed memory: RSS says nothing under sanitizers.
SANITIZED = bool(os.environ.get("IOTCAR_SANITIZED"))
RSS_GROWTH_KB = 2048


def check_rss(br, before, what):
    grown = br.rss_kb() - before
    if not SANITIZED:
        check(grown < RSS_GROWTH_KB, f"{what}: RSS grew by {grown} kB")


def still_answers(br):
    check(Tcp(br.port).ask("ping") == "OK pong", "another client is answered")


def test_a_mebibyte_without_newline(env):
    b, a, br = world(env, bridge_args=(), client=False)
    before = br.rss_kb()
    results = []

    def flood():
        t = Tcp(br.port)
        try:
            t.send(b"f" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            results.append(t.closed())
        except ConnectionResetError:
            results.append([b"reset"])

    threads = [threading.Thread(target=flood) for _ in range(14)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(DEADLINE_S * 2)
    check(len(results) == 14, "every flooding client was closed")
    for r in results:
        check(r in ([b"ERR too-long a message is at most 1024 bytes"],
                    [b"reset"]), f"{r[:2]}")
    still_answers(br)
    check_rss(br, before, "14 clients sending 1 MiB")


def test_binary_nul_and_invalid_utf8(env):
    b, a, br = world(env, bridge_args=(), client=False)
    t = Tcp(br.port)
    for data in (b"\x00\x01\xfe\xff\n", b"for\x00ward\n",
                 b"forward \xc3\x28\n", b"\x1b[31mred\n"):
        t.send(data)
        r = t.line()
        check(r == b"ERR bad-argument not UTF-8 text (binary or control "
                   b"bytes)", f"{data!r}: {r!r}")
    check(t.ask("ping") == "OK pong", "the connection goes on")


def test_slowloris_partial_lines(env):
    b, a, br = world(env, bridge_args=["--partial-timeout-ms", "1500"],
                      client=False)
    before = br.rss_kb()
    slow = []
    for _ in range(100):
        t = Tcp(br.port)
        t.send("ping\npi")
        slow.append(t)
    # Meanwhile everyone else is served at once.
    still_answers(br)
    for t in slow:
        lines = t.closed(timeout=DEADLINE_S + 5)
        check(lines == [b"OK pong",
                        b"ERR timeout line not finished within 1500 ms"],
              f"{lines}")
    still_answers(br)
    check_rss(br, before, "100 slowloris sockets")


def test_idle_clients_are_closed(env):
    b, a, br = world(env, bridge_args=["--idle-timeout-s", "2"], client=False)
    quiet = Tcp(br.port)
    watcher = Tcp(br.port)
    check(watcher.ask("watch") == "OK watching car1", "watch")
    check(quiet.closed(timeout=DEADLINE_S) == [b"ERR timeout idle for 2 s"],
          "the quiet client")
    # A watcher listens; it is not idle.
    check(watcher.ask("ping") == "OK pong", "the watcher is still there")


def test_connection_flood_past_the_cap(env):
    b, a, br = world(env, bridge_args=["--max-clients", "50"], client=False)
    before = br.rss_kb()
    socks = [Tcp(br.port) for _ in range(80)]
    busy = kept = 0
    for t in socks:
        t.send("ping\n")
    for t in socks:
        line = t.line()
        if line == b"OK pong":
            kept += 1
        elif line == b"ERR busy too many connections":
            busy += 1
            check(t.line() == b"", "a refused connection is closed")
    check((kept, busy) == (50, 30), f"{kept} kept, {busy} refused")
    for t in socks:
        t.close()
    wait_until(lambda: Tcp(br.port).ask("ping") == "OK pong",
               "room again once they left", interval=0.1)
    check_rss(br, before, "80 connections")


def test_watcher_that_never_reads_is_dropped(env):
    b, a, br = world(env, bridge_args=["--out-max-kb", "8"], client=False)
    before = br.rss_kb()
    lazy = Tcp(br.port, rcvbuf=4096)
    check(lazy.ask("watch") == "OK watching car1", "watch")
    # A flood of big states that the watcher never reads.
    pub = env.client(b.port)
    state = '{"mode":"idle","pad":"' + "x" * 900 + '"}'
    for i in range(6000):
        pub.c.publish("iotcar/car1/state", state)
    wait_until(lambda: "does not read its replies" in br.log(),
               "the bridge to drop the slow reader", timeout=30)
    still_answers(br)
    check_rss(br, before, "a watcher that never reads")


# ==== Faults ====

def test_car_killed_gives_offline(env):
    b, a, br = world(env, bridge_args=(), client=False)
    t = Tcp(br.port)
    check(t.ask("forward 10") == "OK forward 10", "car online")
    a.kill()
    wait_until(lambda: t.ask("forward 10") ==
               "ERR offline car1 is offline (it said so)", "ERR offline",
               interval=0.05)
    r = t.ask("status")
    check(r.startswith("OK {"), f"status still has the last state: {r}")


def test_broker_killed_and_restarted(env):
    b, a, br = world(env, bridge_args=(), client=False)
    t = Tcp(br.port)
    check(t.ask("forward 10") == "OK forward 10", "before")
    b.kill()
    wait_until(lambda: t.ask("forward 10").startswith("ERR offline the "
                                                      "bridge"),
               "ERR offline while the broker is down", interval=0.05)
    check(t.ask("status").startswith("ERR offline"), "status meanwhile")
    check(t.ask("ping") == "OK pong", "the bridge itself still answers")
    b2 = Broker(env, port=b.port)
    env.brokers.append(b2.start())
    wait_until(lambda: t.ask("forward 10") == "OK forward 10",
               "driving again after the broker is back", interval=0.1)


def test_bridge_restarted(env):
    b, a, br = world(env, bridge_args=(), client=False)
    t = Tcp(br.port)
    check(t.ask("ping") == "OK pong", "first bridge")
    br.signal(15)
    check(br.wait_exit() == 0, "clean exit")
    check(t.line() == b"", "clients see the end")
    br2 = env.bridge(b, port=br.port)
    check(Tcp(br2.port).ask("forward 10") == "OK forward 10", "second bridge")


def test_raw_channel(env):
    b = env.broker()
    from harness import free_port
    raw = free_port()
    conf = os.path.join(env.dir, "bridge.conf")
    with open(conf, "w") as f:
        f.write(f"[raw.door]\nlisten = 127.0.0.1:{raw}\n"
                "publish = home/door/events\nsubscribe = home/door/cmd\n")
    br = env.bridge(b, args=["--config", conf])
    obs = env.client(b.port).subscribe("home/door/#")
    dev = Tcp(raw)
    dev.send("opened\nclosed\n")
    m1 = obs.wait_for("home/door/events", lambda m: m.text == "opened")
    obs.wait_for("home/door/events", lambda m: m.text == "closed")
    check(m1.qos == 0 and not m1.retain, f"{m1}")
    obs.publish("home/door/cmd", "lock", qos=1)
    check(dev.line() == b"lock", "the subscribed topic reaches the device")
    dev.send(b"x" * 2000 + b"\n")
    check(dev.closed()[-1].startswith(b"ERR too-long"), "limits apply")
    check(Tcp(br.port).ask("ping") == "OK pong", "the text port works too")


if __name__ == "__main__":
    main(globals())

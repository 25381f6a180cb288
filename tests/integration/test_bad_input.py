#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Bad input on every command topic: each gets a result error and a
bad_command event, the agent stays up and responsive, and the motors do not
change — checked while the car is driving, so that neither a move nor a stop
caused by bad input could go unnoticed."""
import json
import subprocess
import threading

from harness import (check, event_is, main, need_tool, result_is, wait_state,
                     wait_until)

CAR = "iotcar/car1"
BIG = b'{"throttle":1,"pad":"' + b"a" * 65536 + b'"}'
BINARY = bytes([0x00, 0x01, 0x02, 0xff, 0xfe, 0x80, 0x1b])
BAD_UTF8 = b"forward \xc3\x28 60"

# (topic suffix, payload, expected error code)
CASES = [
    ("set", b'{"throttle":', "bad-json"),
    ("set", b"[1,2,3]", "bad-json"),
    ("set", b'{"throttle":50} trailing', "bad-json"),
    ("set", b'{"throttle":50,"turbo":true}', "unknown-field"),
    ("set", b'{"throttle":101}', "bad-argument"),
    ("set", b'{"steer":-1000}', "bad-argument"),
    ("set", b'{"throttle":"fast"}', "bad-argument"),
    ("set", b'{"throttle":12.5}', "bad-argument"),
    ("set", b'{"ttl_ms":-5,"throttle":1}', "bad-argument"),
    ("set", b'{"speed_limit":1e309}', "bad-argument"),
    ("set", b'{"estop":"MAYBE"}', "bad-argument"),
    ("set", b'{"drive":"fly 10"}', "unknown-command"),
    ("set", b"[" * 3000, "bad-json"),
    ("set", BIG, "too-long"),
    ("set", BINARY, "bad-encoding"),
    ("set", b'{"drive":"forward \xff"}', "bad-encoding"),
    ("set", b"", "bad-json"),
    ("set/drive", b"fly", "unknown-command"),
    ("set/drive", "안녕!".encode(), "unknown-command"),
    ("set/drive", b"forward 101", "bad-argument"),
    ("set/drive", b"drive 10 -101", "bad-argument"),
    ("set/drive", b"forward fast", "bad-argument"),
    ("set/drive", b"forward 50 0", "bad-argument"),
    ("set/drive", b"forward 1 2 3 4", "bad-argument"),
    ("set/drive", b'{"throttle":50}', "unknown-command"),
    ("set/drive", BIG, "too-long"),
    ("set/drive", BINARY, "bad-encoding"),
    ("set/drive", b"forward\x00 60", "bad-encoding"),
    ("set/drive", BAD_UTF8, "bad-encoding"),
    ("set/drive", b"", "unknown-command"),
    ("set/speed_limit", b"101", "bad-argument"),
    ("set/speed_limit", b"-1", "bad-argument"),
    ("set/speed_limit", b"fast", "bad-argument"),
    ("set/speed_limit", b"50.5", "bad-argument"),
    ("set/speed_limit", b'{"speed_limit":50}', "bad-argument"),
    ("set/speed_limit", BIG, "too-long"),
    ("set/speed_limit", BINARY, "bad-encoding"),
    ("set/speed_limit", b"\xff\xfe", "bad-encoding"),
    ("set/estop", b"MAYBE", "bad-argument"),
    ("set/estop", b"1", "bad-argument"),
    ("set/estop", BIG, "too-long"),
    ("set/estop", BINARY, "bad-encoding"),
    ("set/estop", b"O\xffN", "bad-encoding"),
]

COMMAND = {"set": "set", "set/drive": "drive", "set/speed_limit": "speed_limit",
           "set/estop": "estop"}


def start_driving(env, extra=()):
    b = env.broker()
    a = env.agent(b, args=["--max-ttl-ms", "60000", *extra])
    c = env.car_client(b)
    m = c.mark()
    c.publish(f"{CAR}/set/drive", "drive 40 -10 60000")
    before = wait_state(c, since=m, mode="driving")
    a.wait_outputs(30, 50)
    return a, c, before


def check_unchanged(a, c, before, trace_before):
    m = c.mark()
    c.publish(f"{CAR}/get", "")
    s = c.wait_for(f"{CAR}/state", since=m).json()
    for key in ("mode", "throttle", "steer", "left", "right", "speed_limit",
                "estop"):
        check(s[key] == before[key], f"{key} changed: {before} -> {s}")
    check(a.trace() == trace_before,
          f"the motors changed: {a.trace()[len(trace_before):]}")
    check(a.proc.poll() is None, "car-agent died")


def run_cases(env, prefix):
    a, c, before = start_driving(env)
    trace_before = a.trace()
    for suffix, payload, code in CASES:
        topic = f"{prefix}/{suffix}"
        m = c.mark()
        c.publish(topic, payload, qos=1)
        what = f"{topic} {payload[:40]!r}"
        r = c.wait_for(f"{CAR}/result", since=m, what=f"a result for {what}")
        r = r.json()
        check(r["status"] == "error" and r["error"] == code and
              r["cmd"] == COMMAND[suffix] and r["message"],
              f"{what}: result {r}, expected error {code}")
        ev = c.wait_for(f"{CAR}/event", event_is("bad_command"), since=m,
                        what=f"the bad_command event for {what}").json()
        check(ev["topic"] == topic and ev["error"] == code,
              f"{what}: event {ev}")
        results = c.received(f"{CAR}/result", since=m)
        check(len(results) == 1, f"{what}: {len(results)} results")
    check_unchanged(a, c, before, trace_before)


def test_every_command_topic(env):
    run_cases(env, CAR)


def test_every_all_cars_topic(env):
    run_cases(env, "iotcar/all")


def test_bad_command_keeps_its_id(env):
    a, c, before = start_driving(env)
    m = c.mark()
    c.publish(f"{CAR}/set", json.dumps({"id": "q1", "throttle": 500}))
    r = c.wait_for(f"{CAR}/result", result_is(id="q1"), since=m).json()
    check(r["error"] == "bad-argument", f"{r}")


def test_get_takes_anything(env):
    a, c, before = start_driving(env)
    trace_before = a.trace()
    for payload in (BIG, BINARY, b""):
        m = c.mark()
        c.publish(f"{CAR}/get", payload, qos=1)
        c.wait_for(f"{CAR}/state", since=m)
        check(not c.received(f"{CAR}/event", since=m),
              f"get {payload[:20]!r} made an event")
    check_unchanged(a, c, before, trace_before)


def test_flood_of_bad_commands(env):
    a, c, before = start_driving(env)
    trace_before = a.trace()
    n = 2000
    # Python is too slow a subscriber for n results and n events at QoS 1:
    # mosquitto_sub counts them.
    counter = subprocess.Popen(
        ["stdbuf", "-oL", need_tool("mosquitto_sub"), "-d",
         "-h", "127.0.0.1", "-p", str(env.brokers[0].port),
         "-t", f"{CAR}/result",
         "-C", str(n + 1), "-W", "60"],
        stdout=subprocess.PIPE, text=True)
    env.cleanups.append(counter.kill)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(counter.stdout))
    reader.start()
    wait_until(lambda: any("received SUBACK" in x for x in lines),
               "mosquitto_sub to subscribe")
    c2 = env.client(env.brokers[0].port).subscribe("app/#")
    ready = c2.mark()
    c2.publish(f"{CAR}/get", "", qos=1)
    flood = env.client(env.brokers[0].port)
    for i in range(n):
        flood.c.publish(f"{CAR}/set", b'{"throttle":' + str(i).encode())
    c2.request(f"{CAR}/set", '{"id":"last","speed_limit":100}', "app/last",
               b"x")
    r = c2.wait_for("app/last", since=ready).json()
    check(r["status"] == "ok", f"{r}")
    counter.wait(timeout=60)
    reader.join()
    results = [x for x in lines if x.startswith("{")]
    check(len(results) == n + 1,
          f"{len(results)} results for {n} bad commands and one good one")
    # Two connections: the broker may interleave them, so count, not order.
    bad = [r for r in results if '"error":"bad-json"' in r]
    check(len(bad) == n, f"{len(bad)} bad-json results for {n} bad commands")
    check_unchanged(a, c, before, trace_before)


if __name__ == "__main__":
    main(globals())

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The MQTT 3.1.1 mode (mqtt_version = 3.1.1), for brokers without MQTT 5:
the car agent, the socket bridge and pc-console all on 3.1.1 against a
real Mosquitto, which sees them connect as 3.1.1 clients. Driving,
confirmations, presence and the rules hold; a retained command is still
refused when it is delivered at subscribe time; what is lost is the v5
request/response (a Response Topic never reaches the car)."""
import json
import signal

from harness import Tcp, check, event_is, main, wait_until
from test_console import run

CAR = "iotcar/car1"
V311 = ("--mqtt-version", "3.1.1")


def test_mqtt311_mode(env):
    b = env.broker()
    pre = env.client(b.port)
    pre.publish(f"{CAR}/set/drive", "forward 60 5000", qos=1, retain=True)
    c = env.car_client(b)
    a = env.agent(b, args=("--max-ttl-ms", "60000", *V311))
    br = env.bridge(b, args=V311)
    # Mosquitto's log: p2 is 3.1.1 (p5 MQTT 5).
    for name in ("iotcar-car-car1", "iotcar-bridge-bridge1"):
        check(f"as {name} (p2," in b.log(),
              f"{name} did not connect as MQTT 3.1.1:\n{b.log()}")
    # Retained at subscribe time: refused, as on MQTT 5.
    c.wait_for(f"{CAR}/event", event_is("retained_ignored"))
    check(all(t[1:] == (0, 0) for t in a.trace()),
          f"a retained command moved the motors: {a.trace()}")
    pre.publish(f"{CAR}/set/drive", b"", qos=1, retain=True)
    # Confirmed drives through the bridge and the console, both on 3.1.1.
    t = Tcp(br.port)
    check(t.ask("forward 30 60000") == "OK forward 30 60000ms", "bridge")
    a.wait_outputs(30, 30)
    rc, out, err = run(b, *V311, "drive", "left", "20", "60000")
    check(rc == 0, f"pc-console on 3.1.1: exit {rc}, {err!r}")
    a.wait_outputs(-20, 20)
    # The state follows within 50 ms (at most 20 a second).
    c.wait_for(f"{CAR}/state", lambda x: x.json()["left"] == -20)
    rc, out, err = run(b, *V311, "status")
    check(rc == 0 and json.loads(out)["left"] == -20,
          f"status: {out!r} {err!r}")
    # What 3.1.1 loses: a v5 request is obeyed, but gets no answer on its
    # Response Topic.
    m = c.mark()
    c.request(f"{CAR}/set/drive", "stop", f"{CAR}/reply/x", b"c1")
    a.wait_outputs(0, 0)
    m2 = c.mark()
    c.publish(f"{CAR}/get", "")
    c.wait_for(f"{CAR}/state", since=m2, what="a round trip after it")
    check(not c.received(f"{CAR}/reply/x", since=m),
          "a Response Topic reached the car on 3.1.1")
    # Presence: the car frozen with its connection open is offline to
    # the bridge within the bound.
    a.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: t.ask("forward 10").startswith(
            "ERR offline car1 is offline (not heard for"),
            "the bridge's ERR offline", interval=0.05)
    finally:
        a.signal(signal.SIGCONT)
    wait_until(lambda: t.ask("forward 10") == "OK forward 10",
               "driving again", interval=0.05)


if __name__ == "__main__":
    main(globals())

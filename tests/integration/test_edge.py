#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The edge-broker topology (label cluster): a Mosquitto on the car with
broker/edge.conf as shipped, bridged over MQTT v5 to a central Mosquitto,
the car agent on the edge, the socket bridge and pc-console on the
central one. Presence, confirmed drives, a result on a Response Topic
across the bridge, one direction per topic (nothing of the central
broker's comes back into the edge), and the edge broker killed: the car
stops, and the central side shows it offline at once from the bridge
notification."""
import os
import subprocess
import time

from harness import (SOURCE_DIR, Broker, Tcp, check, free_port, main,
                     wait_until)
from test_broker import rewrite
from test_console import console_bin, run, watch_until

EDGE_CONF = os.path.join(SOURCE_DIR, "broker", "edge.conf")


def edge_world(env):
    """(central, edge, agent, bridge): the shipped edge.conf on free ports."""
    central = env.broker()
    with open(EDGE_CONF) as f:
        conf = f.read()
    port = free_port()
    conf = rewrite(conf, "listener 1883 127.0.0.1",
                   f"listener {port} 127.0.0.1")
    conf = rewrite(conf, "address 127.0.0.1:1884",
                   f"address 127.0.0.1:{central.port}")
    edge = Broker(env, port=port, conf=conf + "log_type all\n").start()
    env.brokers.append(edge)
    watcher = env.client(central.port).subscribe("iotcar/car1/edge")
    watcher.wait_for("iotcar/car1/edge", lambda m: m.text == "1",
                     what="the edge's bridge to connect")
    a = env.agent(edge, wait_online=False)
    wait_until(lambda: "link up" in a.log(), "car1 on the edge broker")
    br = env.bridge(central)
    return central, edge, a, br


def test_edge_broker(env):
    central, edge, a, br = edge_world(env)
    t = Tcp(br.port)
    # Presence and state on the central broker.
    wait_until(lambda: run(central, "cars")[1].split() == ["car1", "online"],
               "car1 online on the central broker")
    rc, out, err = run(central, "status")
    check(rc == 0 and '"mode":"idle"' in out, f"status: {out!r} {err!r}")
    # Confirmed drives, from the console and the bridge.
    rc, out, err = run(central, "drive", "forward", "30", "60000")
    check(rc == 0, f"drive: exit {rc}, {err!r}")
    a.wait_outputs(30, 30)
    wait_until(lambda: t.ask("forward 20 1000") == "OK forward 20 1000ms",
               "a confirmed drive through the bridge", interval=0.05)
    # A v5 request: its result comes back on the Response Topic.
    c = env.client(central.port).subscribe("iotcar/car1/reply/edge")
    c.request("iotcar/car1/set/drive", "left 25 60000",
              "iotcar/car1/reply/edge", b"corr-7")
    m = c.wait_for("iotcar/car1/reply/edge")
    check(m.json()["status"] == "ok" and
          m.properties.CorrelationData == b"corr-7", f"reply {m!r}")
    a.wait_outputs(-25, 25)
    # One direction per topic: the central broker's retained messages of
    # other cars (and of this one) never come back into the edge.
    c.publish("iotcar/car2/state", '{"mode":"idle"}', qos=1, retain=True)
    c.publish("homeassistant/button/iotcar_car2/stop/config", "{}", qos=1,
              retain=True)
    on_edge = env.client(edge.port).subscribe("#")
    m0 = on_edge.mark()
    c.publish("iotcar/car1/get", "", qos=1)
    on_edge.wait_for("iotcar/car1/get", since=m0, what="a command crossing")
    topics = {x.topic for x in on_edge.received()}
    check(not any("car2" in x for x in topics),
          f"the central broker's messages came into the edge: {topics}")

    # The edge broker dies: the car stops, and the central side hears it
    # from the bridge notification's will, long before the presence bound.
    watch = subprocess.Popen([console_bin(), "--broker",
                              f"tcp://127.0.0.1:{central.port}", "--json",
                              "watch"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    env.cleanups.append(watch.kill)
    watch_until(watch, lambda o: o["kind"] == "status" and
                o["data"] == "online", "car1 online to the watch")
    t0 = time.monotonic()
    edge.kill()
    a.wait_outputs(0, 0, "car1 stopped when its broker died")
    watch_until(watch, lambda o: o["kind"] == "status" and
                o["data"] == "offline", "car1 offline to the watch")
    gone = time.monotonic() - t0
    wait_until(lambda: t.ask("forward 10") ==
               "ERR offline car1 is offline (its edge broker is gone)",
               "the bridge: car1 offline", interval=0.05)
    print(f"edge broker killed: car1 offline on the central side after "
          f"{gone * 1000:.0f} ms")
    watch.kill()


if __name__ == "__main__":
    main(globals())

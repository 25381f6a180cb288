#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A broker without MQTT 5 (label cluster): RabbitMQ 3.10, Debian 12's,
whose MQTT plugin speaks 3.1.1 only and closes the connection on an MQTT 5
CONNECT. The car agent says why it cannot connect and what to set; with
mqtt_version = 3.1.1 the car, the socket bridge and pc-console work there,
presence and state included (RabbitMQ delivers no retained message to a
wildcard subscription)."""
from harness import Tcp, check, main, wait_until
from test_cluster import Node, rabbits
from test_console import run

V311 = ("--mqtt-version", "3.1.1")


def test_broker_without_mqtt5(env):
    node = Node(rabbits(env, 1)[0])
    a = env.agent(node, wait_online=False)
    wait_until(lambda: "closed the connection on our MQTT 5 CONNECT" in
               a.log(), "the car to say the broker refused MQTT 5")
    check("--mqtt-version 3.1.1" in a.log() and "link up" not in a.log(),
          f"the car's log:\n{a.log()}")
    a.kill()
    a = env.agent(node, args=("--max-ttl-ms", "60000", *V311),
                  wait_online=False)
    wait_until(lambda: "link up" in a.log(), "car1 on MQTT 3.1.1")
    br = env.bridge(node, args=V311, wait_online=False)
    wait_until(lambda: "mqtt: connected" in br.log(), "the bridge")
    t = Tcp(br.port)
    wait_until(lambda: t.ask("forward 20 60000") == "OK forward 20 60000ms",
               "a confirmed drive through the bridge", interval=0.1)
    a.wait_outputs(20, 20)
    wait_until(lambda: run(node, *V311, "cars")[1].split() ==
               ["car1", "online"], "car1 online to pc-console")
    rc, out, err = run(node, *V311, "status")
    check(rc == 0 and '"mode":"driving"' in out, f"status: {out!r} {err!r}")
    rc, out, err = run(node, *V311, "stop")
    check(rc == 0, f"stop: exit {rc}, {err!r}")
    a.wait_outputs(0, 0)


if __name__ == "__main__":
    main(globals())

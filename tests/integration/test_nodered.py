#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Node-RED example flow (nodered/iotcar-flow.json) in a real Node-RED
from npm, against a real Mosquitto and car agent: its inject buttons and
its HTTP endpoint drive the car, and the flow holds the car's state."""
import json
import os
import subprocess
import urllib.error
import urllib.request

from harness import (DEADLINE_S, SOURCE_DIR, check, free_port, main,
                     need_tool, wait_state, wait_until)

CAR = "iotcar/car1"
NODERED = os.path.join(SOURCE_DIR, "nodered")


def http(url, data=None):
    """(status, body) of a GET, or of a text/plain POST when data is set."""
    req = urllib.request.Request(url, data=data, method="POST" if data is not None
                                 else "GET", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def node_red(env, broker):
    """Node-RED on a free port, running the example flow pointed at broker."""
    node = need_tool("node")
    red = os.path.join(NODERED, "node_modules", "node-red", "red.js")
    check(os.path.isfile(red),
          "Node-RED is missing: scripts/install-deps.sh --test")
    with open(os.path.join(NODERED, "iotcar-flow.json")) as f:
        flow = json.load(f)
    for n in flow:
        if n["type"] == "mqtt-broker":
            check(n["broker"] == "127.0.0.1" and n["port"] == "1883",
                  f"the example's broker: {n['broker']}:{n['port']}")
            n["port"] = str(broker.port)
    user_dir = os.path.join(env.dir, "nodered")
    os.makedirs(user_dir)
    flows = os.path.join(user_dir, "flows.json")
    with open(flows, "w") as f:
        json.dump(flow, f)
    port = free_port()
    log = open(os.path.join(env.dir, "nodered.log"), "w")
    proc = subprocess.Popen([node, red, "--userDir", user_dir, "--port",
                             str(port), flows], stdout=log,
                            stderr=subprocess.STDOUT)
    log.close()

    def stop():
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    env.cleanups.append(stop)
    base = f"http://127.0.0.1:{port}"
    # Up, connected to the broker, and subscribed: it has the car's status.
    wait_until(lambda: proc.poll() is not None or
               '"status":"online"' in http(f"{base}/iotcar/car1")[1],
               "Node-RED to run the flow and see car1 online", timeout=60)
    check(proc.poll() is None, "Node-RED exited:\n" +
          open(os.path.join(env.dir, "nodered.log")).read())
    return base


def flow_state(base):
    status, body = http(f"{base}/iotcar/car1")
    check(status == 200, f"GET /iotcar/car1: {status} {body}")
    return json.loads(body)


def test_flow_drives_the_car_and_holds_its_state(env):
    b = env.broker()
    a = env.agent(b)
    c = env.car_client(b)
    base = node_red(env, b)
    got = flow_state(base)
    check(got["state"]["mode"] == "idle", f"the flow's state: {got}")

    # The "forward 2 s" inject button, pressed through Node-RED's admin API.
    m = c.mark()
    status, body = http(f"{base}/inject/inject_forward", b"")
    check(status == 200, f"inject: {status} {body}")
    s = wait_state(c, since=m, mode="driving")
    check(s["throttle"] == 50 and s["ttl_ms"] == 2000, f"forward: {s}")
    a.wait_outputs(50, 50)
    wait_until(lambda: flow_state(base)["state"]["mode"] == "driving",
               "the flow to receive the driving state")

    # Another program, through the flow's HTTP endpoint.
    m = c.mark()
    status, body = http(f"{base}/iotcar/car1/drive", b"left 40 1500")
    check(status == 202 and "sent" in body, f"POST drive: {status} {body}")
    s = wait_state(c, since=m, left=-40, right=40)
    m = c.mark()
    status, _ = http(f"{base}/inject/inject_stop", b"")
    check(status == 200, "inject stop")
    wait_state(c, since=m, mode="idle", moving="OFF")
    a.wait_outputs(0, 0)
    wait_until(lambda: flow_state(base)["state"]["mode"] == "idle",
               "the flow to receive the idle state")

    # A bad request is answered, and moves nothing.
    status, body = http(f"{base}/iotcar/car1/drive", b"   ")
    check(status == 400 and "drive command" in body, f"{status} {body}")


def test_flow_sees_the_car_go_offline(env):
    b = env.broker()
    a = env.agent(b)
    base = node_red(env, b)
    a.signal(15)
    check(a.wait_exit() == 0, "the agent did not stop cleanly")
    wait_until(lambda: flow_state(base)["status"] == "offline",
               "the flow to see car1 offline")


if __name__ == "__main__":
    main(globals())

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""iotcar on a clustered MQTT engine (label cluster): RabbitMQ 4 (Debian
13's rabbitmq-server, MQTT 5) as three nodes on loopback, which keeps
retained messages per node, delivers none to wildcard subscriptions and
publishes no will for the clients of a node that dies. The car is given
all three nodes, the bridge sits on node 2 and pc-console on node 3:
presence, confirmed drives, results on response topics, node 1 killed
with SIGKILL under the driving car (stopped at once, back and drivable on
another node), and a car killed with its node (offline within the
presence bound). Every process started is stopped by PID."""
import os
import signal
import subprocess
import time

from harness import (DEADLINE_S, Tcp, check, free_port, main, need_tool,
                     wait_until)
from test_console import PRESENCE_S, console_bin, run, watch_until

RABBIT_BIN = "/usr/lib/rabbitmq/bin"
# The car, its node killed under it: stopped at once, and back on another
# node within this (protocol.md, clusters).
FAILOVER_S = 5


class Rabbit:
    """One RabbitMQ node on loopback: its own name, ports, data, config and
    plugins; Erlang's port mapper and cookie are the test's own."""

    def __init__(self, env, n, epmd_port):
        self.env = env
        self.name = f"iotcar{n}@localhost"
        self.port = free_port()
        self.dir = os.path.join(env.dir, f"rabbit{n}")
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp = none\n"
                    f"mqtt.listeners.tcp.1 = 127.0.0.1:{self.port}\n"
                    "mqtt.allow_anonymous = true\n")
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        self.envp = dict(
            os.environ, HOME=env.dir, ERL_EPMD_PORT=str(epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(free_port()),
            RABBITMQ_DIST_PORT=str(free_port()),
            RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
            RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
            RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir,
                                                       "enabled_plugins"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=(
                "-kernel inet_dist_use_interface {127,0,0,1}"))
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "out.log"), "w")
        # A session of its own: SIGKILL to the group ends the node and
        # its helpers (erl_child_setup, inet_gethost) at once.
        self.proc = subprocess.Popen([os.path.join(RABBIT_BIN,
                                                   "rabbitmq-server")],
                                     env=self.envp, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.env.cleanups.append(self.kill)
        return self

    def ctl(self, *args, timeout=60, must=True):
        p = subprocess.run([os.path.join(RABBIT_BIN, "rabbitmqctl"), "-q",
                            "-n", self.name, *args], env=self.envp,
                           capture_output=True, text=True, timeout=timeout)
        check(p.returncode == 0 or not must, f"rabbitmqctl {' '.join(args)} "
              f"on {self.name}: exit {p.returncode}: {p.stderr}{p.stdout}"
              f"\n{self.tail()}")
        return p.stdout if p.returncode == 0 else None

    def await_startup(self):
        # Refused at once until the node has told epmd its name.
        wait_until(lambda: self.ctl("await_startup", "--timeout", "60",
                                    timeout=70, must=False) is not None,
                   f"{self.name} to start:\n{self.tail()}", timeout=90,
                   interval=0.2)

    def tail(self):
        try:
            with open(os.path.join(self.dir, "out.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def rabbits(env, count):
    """@p count RabbitMQ nodes started, each on its own: [node1, ...]."""
    for tool in ("rabbitmq-server", "rabbitmqctl"):
        check(os.access(os.path.join(RABBIT_BIN, tool), os.X_OK),
              f"{RABBIT_BIN}/{tool} is missing: run "
              "scripts/install-deps.sh --test (Debian's rabbitmq-server)")
    epmd_port = free_port()
    cookie = os.path.join(env.dir, ".erlang.cookie")
    with open(cookie, "w") as f:
        f.write(f"iotcar{os.getpid()}{time.monotonic_ns()}")
    os.chmod(cookie, 0o400)
    epmd = subprocess.Popen([need_tool("epmd"), "-port", str(epmd_port),
                             "-address", "127.0.0.1"],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    env.cleanups.append(lambda: (epmd.kill(), epmd.wait()))
    nodes = [Rabbit(env, n + 1, epmd_port).start() for n in range(count)]
    for node in nodes:
        node.await_startup()
    return nodes


def cluster(env):
    """Three nodes joined into one cluster, MQTT on each: [node1, node2,
    node3]."""
    nodes = rabbits(env, 3)
    for node in nodes[1:]:
        node.ctl("stop_app")
        node.ctl("join_cluster", nodes[0].name)
        node.ctl("start_app")
        node.await_startup()
    status = nodes[0].ctl("cluster_status")
    check(all(n.name in status for n in nodes), f"not one cluster: {status}")
    return nodes


def uri(*nodes):
    return ",".join(f"tcp://127.0.0.1:{n.port}" for n in nodes)


class Node:
    """What Env.agent and Env.bridge take for a broker: a port."""

    def __init__(self, rabbit):
        self.port = rabbit.port


def test_rabbitmq_cluster(env):
    nodes = cluster(env)
    n1, n2, n3 = nodes
    a = env.agent(Node(n1), broker_uri=uri(*nodes), wait_online=False,
                  args=("--max-ttl-ms", "60000"))
    wait_until(lambda: "link up" in a.log(), "car1 on node 1")
    # A second car on node 1 only: it dies with it.
    a2 = env.agent(Node(n1), car="car2", wait_online=False)
    wait_until(lambda: "link up" in a2.log(), "car2 on node 1")
    br = env.bridge(Node(n2), wait_online=False)
    wait_until(lambda: "mqtt: connected" in br.log(), "the bridge on node 2")
    t = Tcp(br.port)

    # Presence: no retained message reaches a wildcard subscription on
    # another node; the cars are heard, and their state filled in.
    wait_until(lambda: run(Node(n3), "cars")[1].split() ==
               ["car1", "online", "car2", "online"], "both cars online on "
               "node 3")
    rc, out, err = run(Node(n3), "status")
    check(rc == 0 and '"mode":"idle"' in out, f"status on node 3: {out!r} "
          f"{err!r}")
    wait_until(lambda: t.ask("status").startswith("OK {"),
               "the bridge's status on node 2", interval=0.1)

    # Confirmed drives from node 3 and node 2.
    rc, out, err = run(Node(n3), "drive", "forward", "30", "60000")
    check(rc == 0, f"drive on node 3: exit {rc}, {err!r}")
    a.wait_outputs(30, 30)
    check(t.ask("forward 20 60000") == "OK forward 20 60000ms", "node 2")
    a.wait_outputs(20, 20)

    # A result on a response topic, across nodes (mosquitto_rr's way).
    c = env.client(n3.port).subscribe("iotcar/car1/reply/cluster")
    c.request("iotcar/car1/set/drive", "left 25 60000",
              "iotcar/car1/reply/cluster", b"corr-1")
    m = c.wait_for("iotcar/car1/reply/cluster")
    check(m.json()["status"] == "ok" and
          m.properties.CorrelationData == b"corr-1",
          f"reply {m!r}")
    a.wait_outputs(-25, 25)

    # Node 1 killed under both cars. car1 stops at once, moves to another
    # node and is drivable again; car2, killed with it, is offline to the
    # bridge within the presence bound, with why; no will ever comes.
    watch = subprocess.Popen([console_bin(), "--broker", uri(n3), "--json",
                              "watch", "all"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    env.cleanups.append(watch.kill)
    watch_until(watch, lambda o: o["car"] == "car2" and
                o["kind"] == "status" and o["data"] == "online",
                "car2 online to the watch on node 3")
    check(t.ask("use car2") == "OK using car2", "use car2")
    t0 = time.monotonic()
    n1.kill()
    a2.kill()
    a.wait_outputs(0, 0, "car1 stopped when its node died")
    stopped = time.monotonic() - t0

    def drivable():
        rc, out, err = run(Node(n3), "--timeout-ms", "500", "drive",
                           "right", "15", "60000")
        return rc == 0
    wait_until(drivable, "car1 drivable on another node", interval=0.05)
    back = time.monotonic() - t0
    a.wait_outputs(15, -15)
    moves = [x for x in a.trace() if x[0] > t0]
    first_move = next(i for i, x in enumerate(moves) if x[1:] == (15, -15))
    check(all(x[1:] == (0, 0) for x in moves[:first_move]),
          f"car1 moved before it was driven again: {moves}")
    check(back < FAILOVER_S, f"car1 drivable again after {back:.1f} s")
    check(f"connected to {uri(n2)} (of 3 brokers)" in a.log(),
          "car1 did not say it moved to node 2")
    watch_until(watch, lambda o: o["car"] == "car2" and
                o["kind"] == "status" and o["data"] == "offline",
                "car2 offline to the watch on node 3")
    wait_until(lambda: t.ask("forward 10").startswith(
        "ERR offline car2 is offline (not heard for"),
        "car2 offline to the bridge on node 2", interval=0.05)
    gone = time.monotonic() - t0
    check(gone < PRESENCE_S + 2, f"car2 offline after {gone:.1f} s")
    print(f"node 1 killed: car1 stopped after {stopped * 1000:.0f} ms and "
          f"drivable on node 2 after {back * 1000:.0f} ms; car2 offline "
          f"after {gone * 1000:.0f} ms")
    watch.kill()


if __name__ == "__main__":
    main(globals())

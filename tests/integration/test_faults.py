#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The faults a car on Wi-Fi meets, injected for real, each judged by the
motor trace: silent partitions of 1, 5, 12 and 20 s (blackhole routes in a
router between the car's and the broker's network namespaces), a lost
carrier, a frozen broker, a stalled agent, a stalled car behind the bridge,
a stalled bridge, a flood with a slow loop and an e-stop in it, an e-stop
release overtaken by a later latch, keys typed one at a time into the
bridge, a broker whose ACL grants only our topics, and a client that takes
the car's client id.

The rule every case checks: after the fault, the motors move only on a
command sent after it ("fresh"), never on one sent into it; the e-stop
holds; nothing is denied."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

from harness import (DEADLINE_S, LONG_TTL, Agent, Broker, Net, Tcp, check,
                     event_is, free_port, main, result_is, state_is,
                     wait_state, wait_until)

CAR = "iotcar/car1"
# The link timeout (1 s) plus a ping period, and room for sanitizers.
STOP_WITHIN_S = 3.0


def wait_online_again(c, since):
    """The car is back: its `online` after the mark. Not a retained one:
    the client's retained copy may come in after the mark was taken."""
    c.wait_for(f"{CAR}/status", lambda m: m.text == "online" and not m.retain,
               since=since, what="car1 online again",
               timeout=DEADLINE_S + 25)


def drive_fresh(c, a, since):
    """After the fault: a new command is obeyed. Returns when it was sent."""
    wait_online_again(c, since)
    sent = time.monotonic()
    c.publish(f"{CAR}/set/drive", "forward 30 1000")
    a.wait_outputs(30, 30, "a fresh command to be obeyed")
    return sent


def driving(env):
    """car1 driving at 40 on a command that lives a minute (so that only
    the link rules can stop it), and a client following it."""
    b = env.broker()
    a = env.agent(b, args=LONG_TTL)
    c = env.car_client(b)
    c.publish(f"{CAR}/set/drive", "forward 40 60000")
    a.wait_outputs(40, 40)
    return b, a, c


def stopped_at(a, after):
    """When the motors stopped after a time (trace), waiting for it."""
    wait_until(lambda: a.outputs() == (0, 0), "the motors to stop",
               timeout=STOP_WITHIN_S + DEADLINE_S)
    return min(t for t, l, r in a.trace() if t > after and (l, r) == (0, 0))


# ==== Silent partitions and a lost carrier ====

def partition_case(env, seconds, carrier=False):
    net = Net(env)
    b = net.broker(env)
    c = env.car_client(b)
    a = net.agent(env, b, args=LONG_TTL)
    c.publish(f"{CAR}/set/drive", "forward 40 60000")
    a.wait_outputs(40, 40)
    m = c.mark()
    t0 = time.monotonic()
    if carrier:
        net.carrier(False)
    else:
        net.partition()
    # Sent into the partition: commands that must never run.
    c.publish(f"{CAR}/set/drive", "forward 62 2000")
    c.publish(f"{CAR}/set", '{"throttle":63,"steer":0,"ttl_ms":2000}')
    stop = stopped_at(a, t0)
    check(stop - t0 < STOP_WITHIN_S,
          f"stopped {stop - t0:.2f} s after the partition")
    wait_until(lambda: time.monotonic() - t0 >= seconds,
               f"{seconds} s of partition", timeout=seconds + 5)
    if carrier:
        net.carrier(True)
    else:
        net.heal()
    fresh = drive_fresh(c, a, m)
    check(not a.moved_after(stop, allowed={(30, 30)}),
          f"moved on a stale command: {a.moved_after(stop)}")
    check(not [x for x in a.trace() if x[0] > t0 and x[0] < fresh and
               (x[1], x[2]) != (0, 0)], "moved before the fresh command")
    ev = c.wait_for(f"{CAR}/event", event_is("link_lost"), since=m).json()
    check(ev["reason"] in ("silent", "lost") and ev["down_ms"] > 0, f"{ev}")
    return stop - t0


def test_partition_1s(env):
    partition_case(env, 1)


def test_partition_5s(env):
    partition_case(env, 5)


def test_partition_12s(env):
    partition_case(env, 12)


def test_partition_20s(env):
    # Longer than the broker's keep-alive grace (15 s): the broker drops
    # the car's session meanwhile and publishes its will.
    partition_case(env, 20)


def test_carrier_lost_for_3s(env):
    partition_case(env, 3, carrier=True)


# ==== A frozen broker, a stalled agent ====

def test_frozen_broker(env):
    b, a, c = driving(env)
    m = c.mark()
    t0 = time.monotonic()
    b.proc.send_signal(signal.SIGSTOP)
    try:
        # Into the frozen broker's socket: handled when it wakes.
        c.publish(f"{CAR}/set/drive", "forward 61 2000")
        stop = stopped_at(a, t0)
        check(stop - t0 < STOP_WITHIN_S, f"stopped after {stop - t0:.2f} s")
        wait_until(lambda: time.monotonic() - t0 >= 5, "5 s frozen")
    finally:
        b.proc.send_signal(signal.SIGCONT)
    drive_fresh(c, a, m)
    check(not a.moved_after(stop, allowed={(30, 30)}),
          f"moved on a stale command: {a.moved_after(stop)}")


def test_stalled_agent(env):
    b, a, c = driving(env)
    m = c.mark()
    a.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        # Waiting in the agent's socket while it stands still.
        c.publish(f"{CAR}/set/drive", "forward 63 2000")
        c.publish(f"{CAR}/set", '{"throttle":64,"steer":0,"ttl_ms":2000}')
        wait_until(lambda: time.monotonic() - t0 >= 2, "2 s stalled")
    finally:
        a.signal(signal.SIGCONT)
    stop = stopped_at(a, t0)
    # Meanwhile everyone saw it offline: it left with its will.
    c.wait_for(f"{CAR}/status", lambda x: x.text == "offline", since=m)
    drive_fresh(c, a, m)
    check(not a.moved_after(stop, allowed={(30, 30)}),
          f"moved on a stale command: {a.moved_after(stop)}")
    ev = c.wait_for(f"{CAR}/event", event_is("link_lost"), since=m).json()
    check(ev["reason"] == "silent", f"{ev}")


# ==== The bridge: a stalled car behind it, and a stalled bridge ====

def test_stalled_car_behind_the_bridge(env):
    b = env.broker()
    a = env.agent(b, args=LONG_TTL)
    br = env.bridge(b)
    c = env.car_client(b)
    t = Tcp(br.port)
    check(t.ask("ping") == "OK pong", "bridge up")
    m = c.mark()
    a.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    replies = []
    try:
        # Fifty drives, each of its own speed, none confirmed.
        for speed in range(41, 91):
            t.send(f"forward {speed} 2000\n")
            time.sleep(0.05)  # a driver's pace: 20 commands a second
        for _ in range(50):
            replies.append(t.line(timeout=DEADLINE_S).decode())
    finally:
        a.signal(signal.SIGCONT)
    # Refused for its silence: timeouts, and offline once the bridge has
    # not heard it for the presence bound (or never heard it live).
    check(all(r.startswith(("ERR timeout", "ERR offline")) for r in replies),
          f"{replies}")
    drive_fresh(c, a, m)
    moved = {(x[1], x[2]) for x in a.trace() if x[0] > t0}
    check(not any((s, s) in moved for s in range(41, 91)),
          f"the car obeyed a command answered ERR: {moved}")
    check(t.ask("forward 20 1000") == "OK forward 20 1000ms", "fresh")
    a.wait_outputs(20, 20)


def test_stalled_bridge(env):
    b = env.broker()
    a = env.agent(b, args=LONG_TTL)
    br = env.bridge(b)
    t = Tcp(br.port)
    check(t.ask("ping") == "OK pong", "bridge up")
    br.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        # Waits in the bridge's socket past the result timeout (1 s).
        t.send("forward 66 2000\n")
        wait_until(lambda: time.monotonic() - t0 >= 1.5, "1.5 s stalled")
    finally:
        br.signal(signal.SIGCONT)
    r = t.line().decode()
    check(r.startswith("ERR timeout it waited"), r)
    # The first command after the stall may still quote a ping that
    # waited in the bridge too: the car refuses it as stale (it never runs
    # late), and the next ones run.
    replies = []

    def fresh():
        replies.append(t.ask("forward 20 1000"))
        return replies[-1] == "OK forward 20 1000ms"
    wait_until(fresh, "a fresh command to run after the stall", timeout=5)
    check(all(r.startswith("ERR") for r in replies[:-1]), f"{replies}")
    a.wait_outputs(20, 20)
    check(not [x for x in a.trace() if (x[1], x[2]) == (66, 66)],
          "the car obeyed what waited in the stalled bridge")


# ==== Floods and the e-stop ====

def test_flood_with_a_slow_loop_keeps_the_estop(env):
    # Every change of the motors takes 20 ms (a slow driver board), so the
    # car's loop falls far behind a flood of drive commands: 300,000 from 3
    # publishers, one of which sends the e-stop (QoS 1) halfway through its
    # own. In its first second it obeys 50 of them and its inbox overflows;
    # then its pings, waiting behind the flood, are older than a second, and
    # it refuses the rest as stale, cheaply. Their results wait for the
    # broker's acks, which wait behind the flood, so its outgoing queue
    # overflows too.
    #
    # While max_queued_messages packets wait for a client, Mosquitto drops
    # every packet to it, a QoS 1 e-stop too (eclipse/mosquitto#3542): this
    # broker has room for the whole flood, so that what is tested is the
    # car.
    # docs/faults.md says what that drop means in the field.
    b = env.broker(max_queued=10_000_000)
    a = env.agent(b, args=["--sim-latency-us", "20000"])
    # Not the flood of results: a reader that slow loses messages in the
    # broker, whatever the car does.
    c = env.client(b.port)
    for kind in ("event", "state", "telemetry"):
        c.subscribe(f"{CAR}/{kind}")
    estop_sent = threading.Event()

    def flood(p, k):
        for i in range(100000):
            if k == 0 and i == 50000:
                p.publish(f"{CAR}/set/estop", "ON", qos=1)
                estop_sent.set()
            p.c.publish(f"{CAR}/set/drive", f"drive {20 + (i + k) % 60} 0",
                        qos=0)

    pubs = [env.client(b.port) for _ in range(3)]
    threads = [threading.Thread(target=flood, args=(p, k))
               for k, p in enumerate(pubs)]
    m = c.mark()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    check(estop_sent.is_set() and not any(th.is_alive() for th in threads),
          "the flood was not sent")
    # Nothing of the car's gets out while the flood fills its link: the
    # e-stop's event comes once the car is through it.
    ev = c.wait_for(f"{CAR}/event", event_is("estop", estop="ON"),
                    since=m, timeout=60)
    a.wait_outputs(0, 0, "the e-stop to stop the car")
    check(not a.moved_after(ev.time), "moved after the e-stop")
    # The flood drains; the car republishes its state at least every 5 s,
    # and every state since the e-stop says it holds.
    m = c.mark()
    c.wait_for(f"{CAR}/state", state_is(estop="ON", mode="estop"), since=m,
               timeout=30)
    after = c.messages.index(ev)
    states = [x.json() for x in c.received(f"{CAR}/state", since=after)]
    check(all(s["estop"] == "ON" for s in states),
          f"released: {[s for s in states if s['estop'] != 'ON'][:1]}")
    # Hundreds or more dropped and lost, a few lines said so: two a
    # burst (its start and its end), and the flood comes in a few bursts.
    t = c.wait_for(f"{CAR}/telemetry", since=m, timeout=30).json()
    log = a.log()
    lines = (log.count("drive commands dropped"), log.count("results lost"))
    check(t["dropped"] > 100 and t["lost"] > 100,
          f"the flood was not one: dropped {t['dropped']}, lost {t['lost']}")
    check(max(lines) <= 12 and "publish to" not in log,
          f"drops and losses are logged once a burst, not once a message: "
          f"{lines} lines for {t['dropped']} dropped and {t['lost']} lost")


def test_estop_release_never_undoes_a_later_latch(env):
    # A QoS 1 OFF waits behind 200 QoS 1 messages in the broker; the QoS 0
    # ON sent after it overtakes it. The latch the ON made must hold.
    b = env.broker()
    a = env.agent(b, args=LONG_TTL)
    c = env.car_client(b)
    for named in (False, True):
        m = c.mark()
        c.publish(f"{CAR}/set", '{"estop":"ON","id":"first"}', qos=1)
        r = c.wait_for(f"{CAR}/result", result_is(id="first"),
                       since=m).json()
        first_at = time.monotonic()
        # A bare OFF is trusted once the latch is older than the guard.
        wait_until(lambda: time.monotonic() - first_at > 1.2, "the guard")
        for i in range(200):
            c.c.publish(f"{CAR}/get", str(i), qos=1)
        off = f"OFF {r['estop_latch']}" if named else "OFF"
        c.c.publish(f"{CAR}/set/estop", off, qos=1)
        c.c.publish(f"{CAR}/set/estop", "ON", qos=0)
        # A QoS 1 command queued behind the OFF: once its result is in,
        # the car is past both the OFF and the ON.
        m2 = c.mark()
        c.publish(f"{CAR}/set", '{"speed_limit":100,"id":"after"}', qos=1)
        c.wait_for(f"{CAR}/result", result_is(id="after"), since=m2,
                   timeout=30)
        m3 = c.mark()
        c.publish(f"{CAR}/get", "", qos=1)
        s = c.wait_for(f"{CAR}/state", since=m3, timeout=30).json()
        check(s["estop"] == "ON", f"released by an older OFF ({off}): {s}")
        check(a.outputs() in (None, (0, 0)), "motors under e-stop")
        # Clean up for the next round: name the latch that holds.
        m = c.mark()
        c.publish(f"{CAR}/set/estop", f"OFF {s['estop_latch']}", qos=1)
        wait_state(c, since=m, estop="OFF")


# ==== Typing into the bridge ====

def test_typing_into_the_bridge_is_not_driving(env):
    b = env.broker()
    a = env.agent(b, args=LONG_TTL)
    br = env.bridge(b)
    for prefix in (b"", b"\xff\xfb\x1f\xff\xfd\x01"):
        s = socket.create_connection(("127.0.0.1", br.port))
        s.settimeout(DEADLINE_S)
        if prefix:
            # Windows telnet: option negotiation first.
            s.sendall(prefix)
        t0 = time.monotonic()
        # One key every 150 ms, as a person types: the w, a and d inside
        # "forward" must not drive the car.
        for ch in "forward 30 3000":
            s.sendall(ch.encode())
            time.sleep(0.15)
        check(a.outputs() in (None, (0, 0)) and not a.moved_after(t0),
              f"typing moved the car: {a.moved_after(t0)}")
        s.sendall(b"\r\n" if not prefix else b"\r\0")
        r = b""
        while not r.endswith(b"\n"):
            r += s.recv(1024)
        check(r == b"OK forward 30 3000ms\n", f"{r!r}")
        a.wait_outputs(30, 30)
        s.sendall(b"stop\r\n")
        a.wait_outputs(0, 0)
        s.close()
    # A whole word with no newline, as the tutorials send it, still goes.
    t = Tcp(br.port)
    t.send("left")
    check(t.line() == b"OK left 50", "the tutorial client")


# ==== Other people's brokers ====

STRICT_ACL = """# Only the documented topics: a Home Assistant user's Mosquitto.
topic readwrite iotcar/#
topic readwrite homeassistant/#
"""


def test_strict_acl_broker(env):
    # Started as root, Mosquitto reads its ACL as user mosquitto.
    os.chmod(env.dir, 0o755)
    acl = os.path.join(env.dir, "acl")
    with open(acl, "w") as f:
        f.write(STRICT_ACL)
    port = free_port()
    b = Broker(env, port=port, conf=(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"acl_file {acl}\n"
        "set_tcp_nodelay true\n"
        "persistence false\n"
        "log_type all\n")).start()
    env.brokers.append(b)
    a = env.agent(b, args=LONG_TTL)
    br = env.bridge(b)
    c = env.car_client(b)
    console = os.environ["IOTCAR_CONSOLE"]
    run = [console, "--broker", f"tcp://127.0.0.1:{port}"]
    out = subprocess.run([*run, "drive", "forward", "25", "2000"],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, f"pc-console drive: {out}")
    a.wait_outputs(25, 25)
    out = subprocess.run([*run, "status"], capture_output=True, text=True,
                         timeout=30)
    check(out.returncode == 0 and json.loads(out.stdout)["mode"], f"{out}")
    t = Tcp(br.port)
    check(t.ask("forward 35 2000") == "OK forward 35 2000ms", "bridge")
    a.wait_outputs(35, 35)
    m = c.mark()
    c.publish(f"{CAR}/set/estop", "ON", qos=1)
    wait_state(c, since=m, estop="ON")
    # Nothing of ours was denied, and no '$' topic was tried.
    log = b.log()
    check("Denied" not in log and "$iotcar" not in log,
          "denied:\n" + "\n".join(x for x in log.splitlines()
                                  if "Denied" in x or "$" in x))
    for d in (a, br):
        check("refused" not in d.log(), f"{d.name}:\n{d.log()}")


# ==== Identity ====

def test_client_id_takeover_is_reported(env):
    # Mosquitto closes the pushed-off connection before its DISCONNECT
    # 0x8E goes out (2.0.11 to 2.0.20, Debian 12): the car sees the
    # pattern instead, a client that keeps taking its id back. 2.0.21
    # (Debian 13) sends it: the car names the takeover each time.
    b = env.broker()
    a = env.agent(b)
    c = env.car_client(b)
    m = c.mark()
    # Someone connects with the car's own client id, and reconnects
    # whenever the car takes it back (paho's loop does).
    intruder = env.client(b.port, client_id="iotcar-car-car1")
    pattern = "is another client using its client id 'iotcar-car-car1'?"
    reason = ("another MQTT client connected with this car's client id "
              "'iotcar-car-car1'")
    wait_until(lambda: pattern in a.log() or reason in a.log(),
               "the car to say who pushes it off", timeout=30)
    if reason not in a.log():
        check(a.log().count(pattern) == 1, "said once a streak")
    # It leaves: the car comes back and says what happened.
    intruder.close()
    env.clients.remove(intruder)
    ev = c.wait_for(f"{CAR}/event",
                    lambda x: x.json().get("event") == "link_lost" and
                    "client id" in x.json().get("message", ""),
                    since=m, timeout=30).json()
    check(ev["reason"] in ("lost", "taken_over"), f"{ev}")


def test_client_id_takeover_impossible_on_the_production_broker(env):
    # The production config takes the user name as the client id: an
    # operator asking for the car's id gets its own name instead.
    from test_broker import PASSWORDS, production_broker
    b = production_broker(env)
    plain = b.ports["plain"]
    pw = os.path.join(env.dir, "car1.password")
    with open(pw, "w") as f:
        f.write(PASSWORDS["car1"] + "\n")
    op = env.client(plain, username="op", password=PASSWORDS["op"])
    op.subscribe(f"{CAR}/#")
    a = Agent(env, b, "car1", ["--username", "car1", "--password-file", pw],
              broker_uri=f"tcp://127.0.0.1:{plain}")
    env.agents.append(a)
    a.start()
    op.wait_for(f"{CAR}/status", lambda m: m.text == "online")
    m = op.mark()
    # car2's user asks for car1's client id: it gets "car2".
    env.client(plain, client_id="iotcar-car-car1", username="car2",
               password=PASSWORDS["car2"])
    op.publish("iotcar/car1/set/drive", "forward 10 500")
    a.wait_outputs(10, 10)
    check("another MQTT client" not in a.log(), a.log())
    check(not [x for x in op.received(f"{CAR}/status", since=m)
               if x.text == "offline"], "car1 was pushed off")


if __name__ == "__main__":
    main(globals())

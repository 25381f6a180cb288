#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""broker/: the development config, and the production config of SPEC §6
with its ACL, users made by iotcar-user and certificates by make-certs."""
import os
import ssl
import subprocess
import threading
import urllib.request

import paho.mqtt.client as mqtt

from harness import (DEADLINE_S, SOURCE_DIR, Agent, Broker, check, free_port,
                     main, need_tool, wait_state, wait_until)

BROKER_DIR = os.path.join(SOURCE_DIR, "broker")
PASSWORDS = {"car1": "pw-car1", "car2": "pw-car2", "op": "pw-op",
             "alice": "pw-alice"}


def rewrite(text, old, new):
    check(old in text, f"the broker/ config no longer has {old!r}")
    return text.replace(old, new)


def production_broker(env):
    """The production config on free loopback ports, files in env.dir."""
    need_tool("openssl")
    need_tool("mosquitto_passwd")
    # Started as root, Mosquitto drops to user mosquitto: the files must be
    # readable as the scripts leave them, like under /etc/mosquitto.
    os.chmod(env.dir, 0o755)
    etc = os.path.join(env.dir, "etc")
    scripts = os.path.join(BROKER_DIR, "scripts")
    subprocess.run([os.path.join(scripts, "make-certs"), "-d",
                    os.path.join(etc, "certs"), "server"],
                   check=True, capture_output=True, timeout=60)
    for name, kind in (("car1", "car"), ("car2", "car"), ("op", "operator"),
                       ("alice", "operator")):
        subprocess.run([os.path.join(scripts, "iotcar-user"), "-d", etc, kind,
                        name], check=True, capture_output=True, timeout=60,
                       env={**os.environ, "IOTCAR_PASSWORD": PASSWORDS[name]})
    with open(os.path.join(BROKER_DIR, "mosquitto.conf")) as f:
        conf = f.read()
    ports = {"plain": free_port(), "tls": free_port(), "ws": free_port(),
             "ws_local": free_port()}
    conf = rewrite(conf, "/etc/mosquitto/iotcar", etc)
    conf = rewrite(conf, "listener 1883 127.0.0.1",
                   f"listener {ports['plain']} 127.0.0.1")
    conf = rewrite(conf, "listener 8883\n",
                   f"listener {ports['tls']} 127.0.0.1\n")
    conf = rewrite(conf, "listener 9001\n", f"listener {ports['ws']} 127.0.0.1\n")
    conf = rewrite(conf, "listener 9002 127.0.0.1",
                   f"listener {ports['ws_local']} 127.0.0.1")
    b = Broker(env, port=ports["plain"], conf=conf)
    b.start(ports=list(ports.values()))
    env.brokers.append(b)
    b.ports = ports
    b.etc = etc
    b.ca = os.path.join(etc, "certs", "ca.crt")
    return b


def try_connect(port, user=None, password=None, tls=None, transport="tcp"):
    """Connect once; 0 on success, else the reason code or the exception."""
    done = threading.Event()
    result = {}
    c = mqtt.Client(protocol=mqtt.MQTTv5, transport=transport)
    if user:
        c.username_pw_set(user, password)
    if tls is not None:
        c.tls_set(**tls)

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = rc.value if hasattr(rc, "value") else rc
        done.set()

    def on_disconnect(client, userdata, rc, properties=None):
        result.setdefault("rc", f"disconnected: {rc}")
        done.set()

    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    try:
        c.connect("127.0.0.1", port, keepalive=30)
    except (ssl.SSLError, OSError) as e:
        return e
    c.loop_start()
    done.wait(DEADLINE_S)
    c.loop_stop()
    c.disconnect()
    return result.get("rc", "no CONNACK")


def test_dev_conf_is_loopback_and_anonymous(env):
    with open(os.path.join(BROKER_DIR, "dev.conf")) as f:
        conf = f.read()
    port, web = free_port(), free_port()
    conf = rewrite(conf, "listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    # As scripts/demo.sh runs it: the dashboard's folder made absolute.
    conf = rewrite(conf, "listener 9001 127.0.0.1", f"listener {web} 127.0.0.1")
    conf = rewrite(conf, "http_dir broker/www",
                   f"http_dir {os.path.join(BROKER_DIR, 'www')}")
    check("set_tcp_nodelay true" in conf, "dev.conf without set_tcp_nodelay")
    b = Broker(env, port=port, conf=conf)
    env.brokers.append(b.start(ports=[port, web]))
    check(try_connect(port) == 0, "dev.conf refused an anonymous client")
    check(try_connect(web, transport="websockets") == 0,
          "dev.conf's websockets listener refused an anonymous client")
    with urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=5) as r:
        page = r.read().decode()
    check(r.status == 200 and "dashboard.js" in page,
          f"the dashboard is not served: {r.status} {page[:200]}")


def test_anonymous_and_wrong_password_refused(env):
    b = production_broker(env)
    rc = try_connect(b.ports["plain"])
    check(rc != 0, "an anonymous client got in")
    rc = try_connect(b.ports["plain"], "op", "wrong")
    check(rc != 0, "a wrong password got in")
    wss = {"ca_certs": b.ca}
    rc = try_connect(b.ports["ws"], tls=wss, transport="websockets")
    check(rc != 0, "an anonymous websockets client got in")
    check(try_connect(b.ports["plain"], "op", PASSWORDS["op"]) == 0,
          "the operator was refused")
    check(try_connect(b.ports["ws"], "op", PASSWORDS["op"], tls=wss,
                      transport="websockets") == 0,
          "the operator was refused on wss")
    # No plain ws:// (a password in clear text) on the websockets port.
    rc = try_connect(b.ports["ws"], "op", PASSWORDS["op"],
                     transport="websockets")
    check(rc != 0, "the websockets port took a login without TLS")


def test_car_cannot_touch_another_car(env):
    b = production_broker(env)
    port = b.ports["plain"]
    op = env.client(port, username="op", password=PASSWORDS["op"])
    op.subscribe("iotcar/#")
    car1 = env.client(port, username="car1", password=PASSWORDS["car1"])
    m = op.mark()
    car1.publish("iotcar/car2/set/drive", "forward 100", qos=1)
    car1.publish("iotcar/car2/state", '{"mode":"fake"}', qos=1)
    car1.publish("iotcar/all/set/estop", "ON", qos=1)
    car1.publish("iotcar/car1/state", '{"mode":"idle"}', qos=1)
    op.wait_for("iotcar/car1/state", since=m)
    got = [x.topic for x in op.received(since=m)]
    check(got == ["iotcar/car1/state"], f"car1 published elsewhere: {got}")
    # A car reads its own commands and the all-cars ones, not another's.
    car1.subscribe("iotcar/car2/set/#")
    car1.subscribe("iotcar/car1/set/#")
    car1.subscribe("iotcar/all/set/#")
    m = car1.mark()
    op.publish("iotcar/car2/set/drive", "forward 10", qos=1)
    op.publish("iotcar/all/set/drive", "stop", qos=1)
    op.publish("iotcar/car1/set/drive", "forward 20", qos=1)
    car1.wait_for("iotcar/car1/set/drive", since=m)
    got = [x.topic for x in car1.received(since=m)]
    check(got == ["iotcar/all/set/drive", "iotcar/car1/set/drive"],
          f"car1 read: {got}")


def test_tls_listener_needs_the_ca(env):
    b = production_broker(env)
    port = b.ports["tls"]
    rc = try_connect(port, "op", PASSWORDS["op"], tls={"ca_certs": b.ca})
    check(rc == 0, f"TLS with the generated CA refused: {rc}")
    rc = try_connect(port, "op", PASSWORDS["op"], tls={})
    check(isinstance(rc, ssl.SSLCertVerificationError),
          f"TLS without the CA was not refused for its certificate: {rc!r}")
    rc = try_connect(port, tls={"ca_certs": b.ca})
    check(rc != 0, "anonymous TLS client got in")


def test_agent_over_tls_with_password_file(env):
    b = production_broker(env)
    pw = os.path.join(env.dir, "car1.pw")
    with open(pw, "w") as f:
        f.write(PASSWORDS["car1"] + "\n")
    uri = f"ssl://127.0.0.1:{b.ports['tls']}"
    op = env.client(b.ports["plain"], username="op",
                    password=PASSWORDS["op"]).subscribe("iotcar/#")
    # Without the CA the agent cannot trust the broker, and says why.
    bad = Agent(env, b, "car1", ["--username", "car1", "--password-file", pw],
                broker_uri=uri)
    env.agents.append(bad)
    bad.start()
    wait_until(lambda: "certificate verify failed" in bad.log(),
               "the agent to report the TLS failure")
    bad.finish()
    env.agents.remove(bad)
    a = Agent(env, b, "car1", ["--username", "car1", "--password-file", pw,
                               "--cafile", b.ca, "--telemetry-ms", "500"],
              broker_uri=uri)
    env.agents.append(a)
    a.start()
    op.wait_for("iotcar/car1/status", lambda m: m.text == "online")
    m = op.mark()
    op.request("iotcar/car1/set/drive", "forward 30 1000",
               "iotcar/car1/reply/op", b"1")
    r = op.wait_for("iotcar/car1/reply/op", since=m).json()
    check(r["status"] == "ok", f"{r}")
    wait_state(op, since=m, mode="driving")
    a.wait_outputs(30, 30)
    # Idle for ten telemetry periods (5 s): long enough for several wake
    # messages, which the agent says it missed if the ACL drops them.
    n = op.mark()
    wait_until(lambda: len(op.received("iotcar/car1/telemetry", since=n)) >= 10,
               "ten telemetry messages", timeout=30)
    check("warning" not in a.log(), f"the agent complained:\n{a.log()}")


def test_removed_user_is_refused_after_reload(env):
    b = production_broker(env)
    check(try_connect(b.ports["plain"], "car2", PASSWORDS["car2"]) == 0,
          "car2 refused before removal")
    subprocess.run([os.path.join(BROKER_DIR, "scripts", "iotcar-user"), "-d",
                    b.etc, "remove", "car2"], check=True, capture_output=True)
    b.proc.send_signal(1)  # SIGHUP: Mosquitto rereads passwd and acl
    wait_until(lambda: try_connect(b.ports["plain"], "car2",
                                   PASSWORDS["car2"]) != 0,
               "car2 to be refused after removal", interval=0.2)
    with open(os.path.join(b.etc, "acl")) as f:
        acl = f.read()
    check("user op" in acl, "removing car2 damaged the operator's block")


def test_iotcar_user_rejects_bad_names(env):
    script = os.path.join(BROKER_DIR, "scripts", "iotcar-user")
    for args in (["car", "Car1"], ["car", "all"], ["operator", "a b"]):
        out = subprocess.run([script, "-d", env.dir, *args],
                             capture_output=True, text=True,
                             env={**os.environ, "IOTCAR_PASSWORD": "x"})
        check(out.returncode == 2 and out.stderr, f"{args}: {out}")



def test_broker_scripts_print_their_usage(env):
    for name, line in (("iotcar-user", "iotcar-user [-d DIR] car ID"),
                       ("make-certs", "make-certs [-d DIR] server [NAME...]")):
        script = os.path.join(BROKER_DIR, "scripts", name)
        for flag in ("--help", "-h"):
            out = subprocess.run([script, flag], capture_output=True,
                                 text=True)
            check(out.returncode == 0 and line in out.stdout and
                  not out.stderr, f"{name} {flag}: {out}")
        out = subprocess.run([script, "-x"], capture_output=True, text=True)
        check(out.returncode == 2 and "usage:" in out.stderr,
              f"{name} -x: {out}")


if __name__ == "__main__":
    main(globals())

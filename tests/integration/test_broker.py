#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""broker/: the development config, and the production config of protocol §6
with its ACL, users made by iotcar-user and certificates by make-certs."""
import os
import ssl
import subprocess
import threading
import urllib.request

import paho.mqtt.client as mqtt

from harness import (DEADLINE_S, SOURCE_DIR, Agent, Bridge, Broker, Tcp, check,
                     free_port, main, need_tool, wait_state, wait_until)

BROKER_DIR = os.path.join(SOURCE_DIR, "broker")
PASSWORDS = {"car1": "pw-car1", "car2": "pw-car2", "op": "pw-op",
             "alice": "pw-alice", "bridge1": "pw-bridge1"}


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
                       ("alice", "operator"), ("bridge1", "bridge")):
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
                               "--cafile", b.ca, "--telemetry-ms", "500",
                               "--telemetry-idle-ms", "500"],
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


def test_shared_with_home_assistant_and_others(env):
    """A broker that already serves Home Assistant and zigbee2mqtt, with
    broker/iotcar-shared.conf included and broker/acl appended to its ACL,
    and iotcar's users made by iotcar-user: each keeps its own rights."""
    need_tool("mosquitto_passwd")
    os.chmod(env.dir, 0o755)
    etc = os.path.join(env.dir, "shared")
    os.makedirs(os.path.join(etc, "conf.d"))
    passwd, acl = os.path.join(etc, "passwd"), os.path.join(etc, "acl")
    # What was there: Home Assistant's own user, with every right, and
    # zigbee2mqtt's, with its own topics.
    for user in ("homeassistant", "z2m"):
        args = ["mosquitto_passwd", "-b", passwd, user, "pw-" + user]
        if not os.path.exists(passwd):
            args.insert(1, "-c")
        subprocess.run(args, check=True, capture_output=True, timeout=30)
    with open(acl, "w") as f:
        f.write("user homeassistant\ntopic readwrite #\n\n"
                "user z2m\ntopic readwrite zigbee2mqtt/#\n\n")
    # iotcar added: its ACL lines appended, its users with their roles.
    with open(os.path.join(BROKER_DIR, "acl")) as f, open(acl, "a") as out:
        out.write(f.read())
    for name, role in (("car1", "car"), ("ha", "homeassistant")):
        subprocess.run([os.path.join(BROKER_DIR, "scripts", "iotcar-user"),
                        "-d", etc, role, name], check=True, capture_output=True,
                       timeout=60, env={**os.environ, "IOTCAR_PASSWORD": "pw-" + name})
    with open(os.path.join(BROKER_DIR, "iotcar-shared.conf")) as f:
        shared = f.read()
    keys = [line.split()[0] for line in shared.splitlines()
            if line.strip() and not line.startswith("#")]
    check(keys == ["set_tcp_nodelay"],
          f"iotcar-shared.conf sets more than set_tcp_nodelay: {keys}")
    with open(os.path.join(etc, "conf.d", "iotcar.conf"), "w") as f:
        f.write(shared)
    for name in os.listdir(etc):
        os.chmod(os.path.join(etc, name), 0o755 if name == "conf.d" else 0o644)
    port = free_port()
    b = Broker(env, port=port, conf=(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {passwd}\n"
        f"acl_file {acl}\n"
        "persistence false\n"
        f"include_dir {etc}/conf.d\n")).start()
    env.brokers.append(b)
    pw = os.path.join(env.dir, "car1.pw")
    with open(pw, "w") as f:
        f.write("pw-car1\n")
    a = Agent(env, b, "car1", ["--username", "car1", "--password-file", pw])
    env.agents.append(a)
    hass = env.client(port, username="homeassistant", password="pw-homeassistant")
    hass.subscribe("#")
    ha = env.client(port, username="ha", password="pw-ha")
    ha.subscribe("homeassistant/#")
    ha.subscribe("iotcar/car1/#")
    a.start()
    ha.wait_for("iotcar/car1/status", lambda m: m.text == "online")
    ha.wait_for("homeassistant/device/iotcar_car1/config",
                what="car1's discovery config, read by the ha role")
    # The ha role drives the car and says Home Assistant is online.
    m = ha.mark()
    ha.publish("homeassistant/status", "online", qos=1)
    ha.publish("iotcar/car1/set/drive", "forward 30 1000", qos=1)
    wait_state(ha, since=m, mode="driving")
    a.wait_outputs(30, 30)
    # Nobody reaches beyond their own: z2m into iotcar, ha and car1 into
    # zigbee2mqtt; z2m's own topics still work.
    z2m = env.client(port, username="z2m", password="pw-z2m")
    m = hass.mark()
    z2m.publish("iotcar/car1/set/drive", "forward 100", qos=1)
    ha.publish("zigbee2mqtt/lamp/set", "ON", qos=1)
    probe = env.client(port, username="car1", password="pw-car1",
                       client_id="car1-probe")
    probe.publish("zigbee2mqtt/lamp/set", "ON", qos=1)
    z2m.publish("zigbee2mqtt/bridge/state", "online", qos=1)
    hass.wait_for("zigbee2mqtt/bridge/state", since=m)
    got = sorted({x.topic for x in hass.received(since=m)
                  if x.topic.startswith(("zigbee2mqtt/", "iotcar/car1/set"))})
    check(got == ["zigbee2mqtt/bridge/state"], f"rights crossed: {got}")


def password_file(env, user):
    path = os.path.join(env.dir, f"{user}.pw")
    with open(path, "w") as f:
        f.write(PASSWORDS[user] + "\n")
    return path


def test_roles_under_the_production_acl(env):
    """iotcar-user's roles: an operator sends commands but cannot pose as
    a car; the bridge role runs a car-bridge that drives car1."""
    b = production_broker(env)
    port = b.ports["plain"]
    a = Agent(env, b, "car1", ["--username", "car1", "--password-file",
                               password_file(env, "car1")])
    env.agents.append(a)
    op = env.client(port, username="op", password=PASSWORDS["op"])
    op.subscribe("iotcar/#")
    a.start()
    op.wait_for("iotcar/car1/status", lambda m: m.text == "online")
    m = op.mark()
    op.publish("iotcar/car1/state", '{"mode":"fake"}', qos=1)
    op.publish("iotcar/car1/status", "offline", qos=1)
    op.publish("iotcar/car1/get", "", qos=1)
    op.wait_for("iotcar/car1/get", since=m)
    posed = [(x.topic, x.text) for x in op.received(since=m)
             if x.topic == "iotcar/car1/status" or "fake" in x.text]
    check(not posed, f"the operator posed as car1: {posed}")
    br = Bridge(env, b, ["--username", "bridge1", "--password-file",
                         password_file(env, "bridge1"), "--id", "bridge1"])
    env.agents.append(br)
    br.start()
    op.wait_for("iotcar/bridge/bridge1/status", lambda x: x.text == "online")
    t = Tcp(br.port)
    reply = t.ask("forward 30 1000")
    check(reply.startswith("OK"), f"the bridge role: forward -> {reply}")
    a.wait_outputs(30, 30)


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

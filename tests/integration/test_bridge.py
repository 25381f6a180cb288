#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""car-bridge (protocol §5) between real socket clients, a real Mosquitto and a
real car agent: the beginner tutorial clients unchanged but for host and
port, nc, pipelining, UDP, JSON, watch, and every error code."""
import json
import os
import socket
import subprocess
import time

from harness import (DEADLINE_S, SOURCE_DIR, NotifySocket, Tcp, check,
                     free_port, main, need_tool, wait_state, wait_until,
                     world)

CAR = "iotcar/car1"


# ==== The tutorial clients, as written in the tutorials ====

def tutorial_client(port, message):
    """Real Python's echo client, host and port changed, message given."""
    HOST = "127.0.0.1"
    PORT = port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect((HOST, PORT))
        s.sendall(message.encode())
        data = s.recv(1024)
    return data


def test_tutorial_send_one_recv_one(env):
    b, a, br, c = world(env, bridge_args=())
    m = c.mark()
    data = tutorial_client(br.port, "forward")
    check(data == b"OK forward 50\n", f"{data!r}")
    wait_state(c, since=m, mode="driving", left=50)
    a.wait_outputs(50, 50)


def test_tutorial_korean_text_gets_an_error(env):
    b, a, br, c = world(env, bridge_args=())
    data = tutorial_client(br.port, "안녕!")
    check(data.startswith(b"ERR unknown-command ") and data.endswith(b"\n"),
          f"{data!r}")
    check("안녕!" in data.decode(), f"the reply names what was sent: {data!r}")


def test_tutorial_turn_by_turn_on_one_connection(env):
    b, a, br, c = world(env, bridge_args=())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect(("127.0.0.1", br.port))
        for msg, want in (("forward 40 60000", b"OK forward 40 60000ms\n"),
                          ("left", b"OK left 50\n"),
                          ("ping", b"OK pong\n"),
                          ("stop", b"OK stop\n")):
            s.sendall(msg.encode())
            data = s.recv(1024)
            check(data == want, f"{msg!r}: {data!r}")
        s.sendall("status".encode())
        data = s.recv(1024)
        check(data.startswith(b"OK {") and data.endswith(b"}\n"), f"{data!r}")
    a.wait_outputs(0, 0)


def test_tutorial_new_connection_every_message(env):
    b, a, br, c = world(env, bridge_args=())
    for i in range(20):
        # A key alone is a message as a line of its own (a lone byte is
        # taken for a key typed into telnet: test_faults types).
        msg = ["forward 30", "backward 30", "w\n", "x\n"][i % 4]
        data = tutorial_client(br.port, msg)
        check(data.startswith(b"OK "), f"message {i} {msg!r}: {data!r}")


def test_nc_lines(env):
    nc = need_tool("nc")
    b, a, br, c = world(env, bridge_args=())
    out = subprocess.run([nc, "-N", "127.0.0.1", str(br.port)],
                         input=b"ping\r\nforward 20 60000\nstatus\nquit\n",
                         capture_output=True, timeout=DEADLINE_S)
    lines = out.stdout.decode().splitlines()
    check(lines[:2] == ["OK pong", "OK forward 20 60000ms"], f"{lines}")
    check(lines[2].startswith("OK {") and lines[3] == "OK bye", f"{lines}")
    a.wait_outputs(20, 20)


def test_pipelined_500_commands_answered_in_order(env):
    b, a, br, c = world(env, bridge_args=())
    t = Tcp(br.port)
    cmds = []
    for i in range(500):
        # Drive commands wait for the car, pings do not: order must hold.
        cmds.append(f"drive {i % 100} 0 60000" if i % 3 else "ping")
    t.send("".join(x + "\n" for x in cmds))
    for i, cmd in enumerate(cmds):
        got = t.line().decode()
        if cmd == "ping":
            want = "OK pong"
        elif i % 100 == 0:
            want = "OK stop"
        else:
            want = f"OK forward {i % 100} 60000ms"
        check(got == want, f"reply {i} to {cmd!r}: {got!r}, expected {want!r}")


def test_udp_datagrams(env):
    b, a, br, c = world(env, bridge_args=())
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(DEADLINE_S)

    def ask(msg):
        u.sendto(msg, ("127.0.0.1", br.port))
        data, _ = u.recvfrom(65536)
        check(len(data) <= 512, f"a {len(data)}-byte reply datagram")
        return data

    check(ask(b"ping") == b"OK pong\n", "ping")
    m = c.mark()
    check(ask(b"forward 30 60000\n") == b"OK forward 30 60000ms\n", "forward")
    wait_state(c, since=m, mode="driving")

    def status_shows_drive():
        st = ask(b"status")
        check(st.startswith(b"OK {"), f"{st!r}")
        return json.loads(st[3:])["left"] == 30
    # The bridge and our client get the state each in its own time.
    wait_until(status_shows_drive, "the bridge's status to show the drive")
    check(ask(b"x" * 2000).startswith(b"ERR too-long"), "a long datagram")
    check(ask(b"watch").startswith(b"ERR bad-argument"), "watch needs TCP")
    j = ask(b'{"cmd":"stop","id":"u1"}')
    check(json.loads(j) == {"ok": True, "cmd": "drive", "id": "u1",
                            "detail": "stop"}, f"{j!r}")


def test_json_requests(env):
    b, a, br, c = world(env, bridge_args=())
    t = Tcp(br.port)
    r = json.loads(t.ask('{"cmd":"drive","throttle":40,"steer":-20,'
                         '"ttl_ms":60000,"id":"j1"}'))
    check(r == {"ok": True, "cmd": "drive", "id": "j1",
                "detail": "drive 40 -20 60000ms"}, f"{r}")
    a.wait_outputs(20, 60)
    wait_state(c, mode="driving", left=20)

    def status_shows_drive():
        r = json.loads(t.ask('{"cmd":"status","id":2}'))
        check(r["ok"] and r["id"] == 2, f"{r}")
        return r["state"]["throttle"] == 40
    # The bridge and our client get the state each in its own time.
    wait_until(status_shows_drive, "the bridge's status to show the drive")
    r = json.loads(t.ask('{"cmd":"cars"}'))
    check(r == {"ok": True, "cmd": "cars", "cars": ["car1"]}, f"{r}")
    r = json.loads(t.ask('{"cmd":"fly"}'))
    check(not r["ok"] and r["error"] == "unknown-command", f"{r}")
    r = json.loads(t.ask('{"cmd":'))
    check(not r["ok"] and r["error"] == "bad-argument", f"{r}")
    # Text and JSON on one connection.
    check(t.ask("ping") == "OK pong", "text after JSON")


def past_gap(c, since=0, **want):
    """Wait for a state with @want (from mark @since), then for the car to
    publish no state for 100 ms.

    The car publishes a state at most every 50 ms; from 50 ms after the
    last one a change goes out at once, before the command's result.
    """
    wait_state(c, since=since, **want)
    while True:
        n = c.mark()
        time.sleep(0.1)
        if not c.received("iotcar/car1/state", since=n):
            return


def test_status_behind_a_drive_shows_it(env):
    b, a, br, c = world(env, bridge_args=())
    t = Tcp(br.port)
    past_gap(c, mode="idle")
    # One send: the status waits its turn behind the drive.
    t.send("forward 30 60000\nstatus\n")
    check(t.line() == b"OK forward 30 60000ms", "drive")
    st = t.line()
    check(st.startswith(b"OK {") and json.loads(st[3:])["throttle"] == 30,
          f"the status does not show the drive: {st!r}")
    # Also behind a drive the car refuses, and in JSON.
    m = c.mark()
    check(t.ask("stop") == "OK stop", "stop")
    past_gap(c, m, moving="OFF")
    m = c.mark()
    t.send('estop\nforward 10\n{"cmd":"status","id":"s"}\n')
    check(t.line() == b"OK estop on", "estop")
    check(t.line().startswith(b"ERR estop "), "refused")
    r = json.loads(t.line())
    check(r["ok"] and r["id"] == "s" and r["state"]["estop"] == "ON", f"{r}")
    # A status is about the car in use when it was asked.
    past_gap(c, m, estop="ON")
    m = c.mark()
    t.send("release\nstatus\nuse car9\nwatch\n")
    check(t.line() == b"OK estop off", "release")
    st = t.line()
    check(st.startswith(b"OK {") and json.loads(st[3:])["estop"] == "OFF",
          f"car1's state after the release: {st!r}")
    check(t.line() == b"OK using car9 (not online now)", "use")
    check(t.line() == b"OK watching car9", "watch")
    check(t.ask("unwatch") == "OK not watching", "unwatch")
    check(t.ask("use car1") == "OK using car1", "use car1")
    # A watch behind a drive pushes nothing before its own OK.
    past_gap(c, m, estop="OFF")
    t.send("forward 20 60000\nwatch\n")
    check(t.line() == b"OK forward 20 60000ms", "drive")
    check(t.line() == b"OK watching car1", "no push before the watch's OK")
    check(t.line().startswith(b"STATE {"), "then the pushes")


def test_watch_pushes_state_and_event(env):
    b, a, br, c = world(env, bridge_args=())
    w = Tcp(br.port)
    check(w.ask("watch") == "OK watching car1", "watch")
    d = Tcp(br.port)
    check(d.ask("forward 30 300") == "OK forward 30 300ms", "drive")
    seen_driving = seen_failsafe = False
    while not (seen_driving and seen_failsafe):
        line = w.line().decode()
        kind, _, js = line.partition(" ")
        if kind == "STATE" and json.loads(js)["mode"] == "driving":
            seen_driving = True
        elif kind == "EVENT" and json.loads(js)["event"] == "failsafe":
            seen_failsafe = True
        else:
            check(kind in ("STATE", "EVENT"), f"unexpected push {line!r}")
    check(w.ask("unwatch") == "OK not watching", "unwatch")


def test_cars_use_and_offline(env):
    b, a, br, c = world(env, bridge_args=())
    t = Tcp(br.port)
    check(t.ask("cars") == "OK car1", "cars")
    check(t.ask("use car9").startswith("OK using car9"), "use")
    r = t.ask("forward")
    check(r.startswith("ERR offline "), f"{r}")
    check(t.ask("use car1") == "OK using car1", "use back")
    check(t.ask("w") == "OK forward 50", "drive")


# ==== Every error code ====

def test_error_codes_from_the_car(env):
    b = env.broker()
    a = env.agent(b, args=["--sim-wall-cm", "20"])
    br = env.bridge(b)
    t = Tcp(br.port)
    r = t.ask("forward 10")
    check(r.startswith("ERR blocked "), f"obstacle: {r}")
    check(t.ask("backward 10") == "OK backward 10", "reverse is allowed")
    check(t.ask("estop") == "OK estop on", "estop")
    r = t.ask("backward 10")
    check(r == "ERR estop the e-stop is latched; send release to drive "
          "again", f"latched: {r}")
    check(t.ask("release") == "OK estop off", "release")
    # A release sent before the bridge heard of the latch it would undo
    # (in the same breath as the estop) names an older one: refused.
    t.send("estop\nrelease\n")
    check(t.line() == b"OK estop on", "estop")
    r = t.line().decode()
    check(r == "ERR estop a newer e-stop latch holds; send release again to "
          "release it", f"release in the same breath: {r}")
    check(t.ask("release") == "OK estop off", "release once it is known")
    check(t.ask("speed 40") == "OK speed 40", "speed")


def test_longest_bridge_id(env):
    """A 32-character id (the most the grammar allows) also starts every
    command id the bridge sends, and drive commands still work."""
    long_id = "b" * 32
    b = env.broker()
    env.agent(b)
    c = env.client(b.port).subscribe(f"iotcar/bridge/{long_id}/status")
    br = env.bridge(b, args=["--id", long_id], wait_online=False)
    c.wait_for(f"iotcar/bridge/{long_id}/status", lambda m: m.text == "online",
               what="the bridge to be online")
    t = Tcp(br.port)
    check(t.ask("forward 30") == "OK forward 30", "drive with a long id")


def test_error_codes_from_the_bridge(env):
    b, a, br, c = world(env, bridge_args=())
    t = Tcp(br.port)
    for msg, code in (("fly", "unknown-command"),
                      ("forward 500", "bad-argument"),
                      ("speed fast", "bad-argument"),
                      ("use Car!", "bad-argument"),
                      ("\xff\xfe", None)):
        t.send(msg.encode("latin-1") + b"\n")
        r = t.line().decode(errors="replace")
        check(r.startswith(f"ERR {code or 'bad-argument'} "), f"{msg!r}: {r}")
    # A car that says online but never answers: ERR timeout after 1 s.
    c.publish("iotcar/ghost/status", "online", qos=1, retain=True)
    wait_until(lambda: "ghost" in t.ask("cars"), "the bridge to see ghost",
               interval=0.05)
    check(t.ask("use ghost") == "OK using ghost", "use ghost")
    start = time.monotonic()
    r = t.ask("forward")
    check(r == "ERR timeout no answer from ghost within 1000 ms", f"{r}")
    check(time.monotonic() - start >= 1.0, "timed out too early")


def test_too_long_closes(env):
    b, a, br, c = world(env, bridge_args=())
    t = Tcp(br.port)
    t.send(b"f" * 1025 + b"\n")
    lines = t.closed()
    check(lines == [b"ERR too-long a message is at most 1024 bytes"],
          f"{lines}")
    t2 = Tcp(br.port)
    check(t2.ask("f" * 1024).startswith("ERR unknown-command"),
          "1024 bytes are allowed")


def test_rate_limited(env):
    b, a, br, c = world(env, bridge_args=["--rate-per-s", "1",
                                          "--rate-burst", "3"])
    t = Tcp(br.port)
    t.send("ping\n" * 5)
    got = [t.line().decode() for _ in range(5)]
    check(got[:3] == ["OK pong"] * 3, f"{got}")
    check(all(x.startswith("ERR rate-limited ") for x in got[3:]), f"{got}")


def test_connection_cap_busy(env):
    b, a, br, c = world(env, bridge_args=["--max-clients", "3"])
    keep = [Tcp(br.port) for _ in range(3)]
    for k in keep:
        check(k.ask("ping") == "OK pong", "within the cap")
    extra = Tcp(br.port)
    lines = extra.closed()
    check(lines == [b"ERR busy too many connections"], f"{lines}")
    keep[0].close()
    wait_until(lambda: Tcp(br.port).ask("ping") == "OK pong",
               "a free place after one left", interval=0.1)


def auth_bridge(env):
    """car1 and a bridge on every address of the host, token s3cret."""
    b = env.broker()
    env.agent(b)
    token = os.path.join(env.dir, "token")
    with open(token, "w") as f:
        f.write("s3cret\n")
    port = free_port()
    env.bridge(b, args=["--token-file", token], listen=f"0.0.0.0:{port}",
               port=port)
    return port


def test_auth_on_a_non_loopback_listener(env):
    port = auth_bridge(env)
    t = Tcp(port)
    check(t.ask("ping").startswith("ERR auth-required "), "before auth")
    check(t.ask("auth nope") == "ERR auth-required wrong token", "wrong")
    check(t.ask("auth s3cret") == "OK authenticated", "right token")
    check(t.ask("forward 10") == "OK forward 10", "after auth")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(DEADLINE_S)
    # Without the token, no answer larger than the question: a short
    # datagram gets none (the one after it is answered first), a longer
    # one the error, cut to its size.
    u.sendto(b"ping", ("127.0.0.1", port))
    u.sendto(b"auth s3cret ping", ("127.0.0.1", port))
    check(u.recvfrom(1024)[0] == b"OK pong\n", "UDP with auth")
    u.sendto(b"x" * 30, ("127.0.0.1", port))
    r = u.recvfrom(1024)[0]
    check(r.startswith(b"ERR auth-required") and len(r) <= 30 and
          r.endswith(b"\n"), f"UDP without auth: {r!r}")
    # Three wrong tokens and the connection is closed.
    t2 = Tcp(port)
    t2.send("auth a\nauth b\nauth c\n")
    check(len(t2.closed()) == 3, "closed after three wrong tokens")


def test_token_guessing_is_throttled_per_address(env):
    port = auth_bridge(env)
    # Five wrong tokens from 127.0.0.1, each on a new connection...
    for i in range(5):
        t = Tcp(port)
        check(t.ask(f"auth guess{i}") == "ERR auth-required wrong token",
              f"guess {i}")
        t.close()
    # ...and the address must wait: not even the right token is looked at,
    # on a new connection or in a datagram (which gets no answer at all).
    t = Tcp(port)
    r = t.ask("auth s3cret")
    check(r.startswith("ERR auth-required too many wrong tokens"), r)
    check(t.closed() == [], "closed after the throttle's answer")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(DEADLINE_S)
    u.sendto(b"auth s3cret ping", ("127.0.0.1", port))
    # Another address is not held back by the first one's guesses: its
    # datagram is answered, and before anything to 127.0.0.1 could be.
    u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u2.bind(("127.0.0.2", 0))
    u2.settimeout(DEADLINE_S)
    u2.sendto(b"auth s3cret ping", ("127.0.0.1", port))
    check(u2.recvfrom(1024)[0] == b"OK pong\n", "another address")
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(DEADLINE_S)
    s.connect(("127.0.0.1", port))
    s.sendall(b"auth s3cret\nping\n")
    got = b""
    while got.count(b"\n") < 2:
        got += s.recv(1024)
    check(got == b"OK authenticated\nOK pong\n", f"{got!r}")
    s.close()
    # The bridge read the datagram to 127.0.0.1 before 127.0.0.2's, so any
    # answer to it would already wait in the socket: none does.
    u.setblocking(False)
    try:
        data = u.recvfrom(1024)[0]
        check(False, f"a throttled datagram was answered: {data!r}")
    except BlockingIOError:
        pass


def test_non_loopback_without_token_is_refused(env):
    b = env.broker()
    out = subprocess.run([os.environ["IOTCAR_BRIDGE"], "--broker",
                          f"tcp://127.0.0.1:{b.port}", "--listen",
                          "0.0.0.0:9"], capture_output=True, text=True,
                         timeout=DEADLINE_S)
    check(out.returncode == 2 and "--token-file" in out.stderr and
          "--insecure" in out.stderr, f"{out}")


def test_quit_and_help(env):
    b, a, br, c = world(env, bridge_args=())
    t = Tcp(br.port)
    h = t.ask("help")
    check(h.startswith("OK commands: ") and "forward" in h, f"{h}")
    t.send("quit\nping\n")
    check(t.closed() == [b"OK bye"], "quit closes; later lines ignored")


def test_print_config_is_the_shipped_example(env):
    bin_ = os.environ.get("IOTCAR_BRIDGE", "")
    example = f"{SOURCE_DIR}/bridge/car-bridge.conf.example"
    out = subprocess.run([bin_, "--print-config"], capture_output=True,
                         text=True, timeout=DEADLINE_S)
    check(out.returncode == 0, f"{out}")
    with open(example) as f:
        text = f.read()
    check(text == out.stdout,
          "bridge/car-bridge.conf.example is out of date: regenerate it "
          "with car-bridge --print-config")
    # The commented raw channel, uncommented, is a valid configuration.
    conf = f"{env.dir}/bridge.conf"
    with open(conf, "w") as f:
        f.write(text.replace(";[raw.", "[raw.").replace(";listen =", "listen =")
                .replace(";publish =", "publish =")
                .replace(";subscribe =", "subscribe ="))
    again = subprocess.run([bin_, "--config", conf, "--print-config"],
                           capture_output=True, text=True, timeout=DEADLINE_S)
    check(again.returncode == 0 and again.stdout == out.stdout,
          f"the example does not load: {again.stderr!r}")
    with open(conf, "a") as f:
        f.write("[raw.bad]\nlisten = 127.0.0.1:1\n")
    bad = subprocess.run([bin_, "--config", conf], capture_output=True,
                         text=True, timeout=DEADLINE_S)
    check(bad.returncode == 2 and
          "[raw.bad] needs publish, subscribe or both" in bad.stderr,
          f"{bad.returncode} {bad.stderr!r}")


def test_bridge_status_and_clean_exit(env):
    b, a, br, c = world(env, bridge_args=())
    obs = env.client(b.port).subscribe("iotcar/bridge/#")
    obs.wait_for("iotcar/bridge/bridge1/status",
                 lambda m: m.retain and m.text == "online")
    m = obs.mark()
    br.signal(15)
    check(br.wait_exit() == 0, "SIGTERM: exit 0")
    obs.wait_for("iotcar/bridge/bridge1/status", lambda m: m.text == "offline",
                 since=m)
    br2 = env.bridge(b)
    m = obs.mark()
    br2.kill()
    obs.wait_for("iotcar/bridge/bridge1/status", lambda m: m.text == "offline",
                 since=m, what="offline from the will")


def test_systemd_ready_and_watchdog(env):
    # As car-bridge.service runs it: READY=1 once it listens, then
    # WATCHDOG=1 within every period of WatchdogSec.
    b = env.broker()
    n = NotifySocket(env, 400)
    br = env.bridge(b, wait_online=False)
    n.started()
    n.ready_and_pinging()
    check(Tcp(br.port).ask("ping") == "OK pong", "listening when ready")


if __name__ == "__main__":
    main(globals())

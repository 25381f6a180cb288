#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""pc-console against a real Mosquitto and real car agents: every
subcommand and exit status, and the dashboard in a real terminal (tmux):
what it shows, keys that drive the car, the terminal restored however it
ends, and the car stopping by itself when the console is killed."""
import json
import os
import re
import signal
import struct
import subprocess
import time

from harness import (DEADLINE_S, LONG_TTL, Tcp, check, event_is, main,
                     need_tool, wait_state, wait_until, world)

CAR = "iotcar/car1"
# fleet.h: a car not heard for 3 s is offline, looked at every 0.25 s.
PRESENCE_S = 3.25
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer")


def console_bin():
    path = os.environ.get("IOTCAR_CONSOLE", "")
    check(os.access(path, os.X_OK),
          f"IOTCAR_CONSOLE={path!r} is not a pc-console binary")
    return path


def clean_stderr(text, what):
    for bad in SANITIZER_REPORTS:
        check(bad not in text, f"{what}: {bad}\n{text}")


def run(broker, *args, timeout=DEADLINE_S, port=None):
    """One subcommand; returns (exit status, stdout, stderr)."""
    port = port or broker.port
    p = subprocess.run([console_bin(), "--broker", f"tcp://127.0.0.1:{port}",
                        *args], capture_output=True, text=True,
                       timeout=timeout + 5, stdin=subprocess.DEVNULL)
    clean_stderr(p.stderr, f"pc-console {' '.join(args)}")
    return p.returncode, p.stdout, p.stderr


# ==== Subcommands ====

def test_drive_confirmed(env):
    b, a, c = world(env)
    rc, out, err = run(b, "drive", "forward", "60", "5000")
    check(rc == 0, f"drive: exit {rc}: {err}")
    check("drive confirmed" in out, f"drive printed {out!r}")
    wait_state(c, mode="driving", throttle=60, steer=0)
    rc, out, err = run(b, "--json", "drive", "drive", "-40", "20", "5000")
    check(rc == 0, f"drive --json: exit {rc}: {err}")
    r = json.loads(out)
    check(r["ok"] is True and r["car"] == "car1" and r["cmd"] == "drive"
          and r["rtt_ms"] > 0, f"drive --json printed {out!r}")
    wait_state(c, throttle=-40, steer=20)
    rc, out, err = run(b, "stop")
    check(rc == 0, f"stop: exit {rc}: {err}")
    wait_state(c, mode="idle", throttle=0, moving="OFF")
    a.wait_outputs(0, 0)


def test_estop_and_speed(env):
    b, a, c = world(env)
    rc, out, err = run(b, "speed", "40")
    check(rc == 0, f"speed 40: exit {rc}: {err}")
    wait_state(c, speed_limit=40)
    rc, out, err = run(b, "estop", "on")
    check(rc == 0, f"estop on: exit {rc}: {err}")
    wait_state(c, mode="estop", estop="ON")
    rc, out, err = run(b, "drive", "forward", "60")
    check(rc == 1, f"drive under e-stop: exit {rc}")
    check("e-stop is latched" in err and "estop off" in err,
          f"drive under e-stop said {err!r}")
    rc, out, err = run(b, "--json", "drive", "forward", "60")
    r = json.loads(out)
    check(rc == 1 and r["ok"] is False and r["error"] == "estop",
          f"--json drive under e-stop: exit {rc}, {out!r}")
    check(a.outputs() in (None, (0, 0)), "the motors moved under e-stop")
    rc, out, err = run(b, "estop", "off")
    check(rc == 0, f"estop off: exit {rc}: {err}")
    wait_state(c, estop="OFF", mode="idle")
    rc, out, err = run(b, "drive", "forward", "50", "5000")
    check(rc == 0, f"drive after release: exit {rc}: {err}")
    # 50 % under a 40 % limit.
    wait_state(c, mode="driving", left=20, right=20)


def test_refused_by_the_car(env):
    """Forward into the obstacle: the car refuses, the console says why."""
    b, a, c = world(env, agent_args=("--sim-wall-cm", "10"))
    rc, out, err = run(b, "drive", "forward", "30")
    check(rc == 1, f"forward into a wall: exit {rc}")
    check("refused" in err and "blocked" in err, f"it said {err!r}")
    rc, out, err = run(b, "drive", "backward", "30")
    check(rc == 0, f"backward away from it: exit {rc}: {err}")


def test_offline_unknown_timeout(env):
    b, a, c = world(env)
    rc, out, err = run(b, "--car", "ghost", "stop")
    check(rc == 1 and "ghost is unknown" in err,
          f"unknown car: exit {rc}, {err!r}")
    rc, out, err = run(b, "--car", "ghost", "--json", "status")
    r = json.loads(out)
    check(rc == 1 and r["error"] == "offline", f"status of ghost: {out!r}")
    # A car that is online but answers nothing: stopped, not dead.
    a.signal(signal.SIGSTOP)
    try:
        rc, out, err = run(b, "--timeout-ms", "300", "drive", "forward")
        check(rc == 1 and "no answer from car1 within 300 ms" in err,
              f"frozen car: exit {rc}, {err!r}")
        rc, out, err = run(b, "--timeout-ms", "300", "--json", "stop")
        check(rc == 1 and json.loads(out)["error"] == "timeout",
              f"frozen car --json: exit {rc}, {out!r}")
    finally:
        a.signal(signal.SIGCONT)
    a.signal(signal.SIGTERM)
    check(a.wait_exit() == 0, "the car did not stop cleanly")
    c.wait_for(f"{CAR}/status", lambda m: m.text == "offline")
    for args in (("stop",), ("drive", "forward"), ("estop", "on"),
                 ("speed", "10"), ("status",)):
        rc, out, err = run(b, *args)
        check(rc == 1 and "car1 is offline" in err,
              f"{args} to an offline car: exit {rc}, {err!r}")


def test_no_broker(env):
    port = env.broker().port
    env.brokers[0].stop()
    t0 = time.monotonic()
    rc, out, err = run(None, "--timeout-ms", "500", "stop", port=port)
    check(rc == 1 and "cannot reach the MQTT broker" in err,
          f"no broker: exit {rc}, {err!r}")
    check(time.monotonic() - t0 < DEADLINE_S, "it did not give up")
    rc, out, err = run(None, "--timeout-ms", "500", "--json", "cars",
                       port=port)
    check(rc == 1 and json.loads(out)["error"] == "no-broker",
          f"no broker --json: exit {rc}, {out!r}")


def test_bad_usage(env):
    """Exit 2 with a message naming the problem, before any connection."""
    cases = [
        (("fly",), "unknown command 'fly'"),
        (("drive",), "drive: missing argument"),
        (("drive", "sideways"), "unknown drive command 'sideways'"),
        (("drive", "forward", "200"), "drive:"),
        (("estop", "maybe"), "'maybe' is not on or off"),
        (("speed", "101"), "'101' is not a number 0..100"),
        (("stop", "now"), "too many arguments"),
        (("watch", "car2"), "only `all`"),
        (("--car", "Bad Car", "stop"), "--car"),
        (("--ttl-ms", "1", "stop"), "--ttl-ms"),
        (("--bogus", "stop"), "unknown option '--bogus'"),
    ]
    for args, says in cases:
        rc, out, err = run(None, *args, port=1)
        check(rc == 2, f"{args}: exit {rc}, {err!r}")
        check(says in err, f"{args}: said {err!r}, not {says!r}")
    # No command and no terminal: the dashboard cannot run.
    rc, out, err = run(None, port=1)
    check(rc == 2 and "needs a terminal" in err, f"no command: {rc} {err!r}")
    rc, out, err = run(None, "--help", port=1)
    check(rc == 0 and "watch" in out and "Exit status" in out, "--help")


def test_status_and_cars(env):
    b, a, c = world(env)
    a2 = env.agent(b, car="car2")
    rc, out, err = run(b, "status")
    check(rc == 0, f"status: exit {rc}: {err}")
    st = json.loads(out)
    check(st["mode"] == "idle" and st["distance_cm"] is not None,
          f"status printed {out!r}")
    watch2 = env.client(b.port).subscribe("iotcar/car2/state")
    run(b, "--car", "car2", "drive", "forward", "30", "5000")
    # The car publishes its state at most 20 times a second: the drive's
    # may come up to 50 ms after the drive's result (protocol §4).
    watch2.wait_for("iotcar/car2/state", lambda m: m.json()["throttle"] == 30)
    rc, out, err = run(b, "--car", "car2", "status")
    check(rc == 0 and json.loads(out)["throttle"] == 30,
          f"status of car2: {out!r}")
    a2.signal(signal.SIGTERM)
    check(a2.wait_exit() == 0, "car2 did not stop cleanly")
    c2 = env.client(b.port).subscribe("iotcar/car2/status")
    c2.wait_for("iotcar/car2/status", lambda m: m.text == "offline")
    rc, out, err = run(b, "cars")
    check(rc == 0, f"cars: exit {rc}: {err}")
    lines = [line.split() for line in out.splitlines()]
    check(lines == [["car1", "online"], ["car2", "offline"]],
          f"cars printed {out!r}")
    rc, out, err = run(b, "--json", "cars")
    check(json.loads(out) == [{"car": "car1", "status": "online"},
                              {"car": "car2", "status": "offline"}],
          f"cars --json printed {out!r}")


def test_presence_without_retained_or_will(env):
    """A car that goes silent with its connection open (no will comes) is
    offline within the presence bound, with the reason; heard again, it is
    online and drivable."""
    b, a, br = world(env, bridge_args=(), client=False)
    t = Tcp(br.port)
    check(t.ask("forward 10") == "OK forward 10", "car online")
    p = subprocess.Popen([console_bin(), "--broker",
                          f"tcp://127.0.0.1:{b.port}", "--json", "watch"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    env.cleanups.append(p.kill)
    watch_until(p, lambda o: o["kind"] == "state", "the retained state")
    # A ping heard here after the watch and the bridge subscribed: they
    # have heard the car live too.
    env.client(b.port).subscribe(f"{CAR}/link", qos=0).wait_for(f"{CAR}/link")
    a.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        watch_until(p, lambda o: o["kind"] == "status" and
                    o["data"] == "offline", "the silent car going offline")
        took = time.monotonic() - t0
        # 3 s unheard, looked at every 0.25 s; the console's own start.
        check(took < PRESENCE_S + 1, f"offline after {took:.1f} s")
        # A one-shot command cannot wait the bound: it has not heard
        # the car, sends at once and says why it may have no answer.
        rc, out, err = run(b, "--timeout-ms", "500", "stop")
        check(rc == 1 and "no answer from car1 within 500 ms (not heard "
              "live since connecting" in err,
              f"stop to a silent car: exit {rc}, {err!r}")
        rc, out, err = run(b, "cars")
        check(rc == 0 and out.split() == ["car1", "offline"],
              f"cars printed {out!r}")
        wait_until(lambda: t.ask("forward 10").startswith(
            "ERR offline car1 is offline (not heard for"),
            "the bridge's ERR offline", interval=0.05)
    finally:
        a.signal(signal.SIGCONT)
    watch_until(p, lambda o: o["kind"] == "status" and
                o["data"] == "online", "the car heard again")
    wait_until(lambda: t.ask("forward 10") == "OK forward 10",
               "driving again through the bridge", interval=0.05)
    p.kill()


def test_presence_from_a_broker_without_retained(env):
    """With the car's retained status and state gone (a broker that keeps
    none, or delivers none to wildcards), the console and the bridge still
    see it online from its pings and fill in its state with `get`; a stale
    retained "online" of a car that is not there is offline."""
    b, a, br, c = world(env, bridge_args=())
    for kind in ("status", "state"):
        c.publish(f"{CAR}/{kind}", "", qos=1, retain=True)
    c.publish("iotcar/ghost/status", "online", qos=1, retain=True)
    c.publish("iotcar/ghost/state", '{"mode":"idle"}', qos=1, retain=True)
    # Gone: a new subscriber's first message is a live ping, no retained
    # status or state before it.
    fresh = env.client(b.port).subscribe(f"{CAR}/#")
    fresh.wait_for(f"{CAR}/link")
    kinds = [m.topic for m in fresh.received()]
    check(kinds[0] == f"{CAR}/link", f"retained messages stayed: {kinds}")
    rc, out, err = run(b, "status")
    check(rc == 0 and json.loads(out)["mode"] == "idle",
          f"status without a retained state: exit {rc}, {out!r} {err!r}")
    rc, out, err = run(b, "cars")
    lines = [line.split() for line in out.splitlines()]
    check(rc == 0 and lines == [["car1", "online"], ["ghost", "offline"]],
          f"cars printed {out!r}")
    rc, out, err = run(b, "drive", "forward", "20", "3000")
    check(rc == 0, f"drive: exit {rc}, {err!r}")
    a.wait_outputs(20, 20)
    rc, out, err = run(b, "--car", "ghost", "--timeout-ms", "500", "stop")
    check(rc == 1 and "not heard live since connecting" in err,
          f"ghost: exit {rc}, {err!r}")
    wait_until(lambda: Tcp(br.port).ask("use ghost") ==
               "OK using ghost (not online now)", "the bridge: ghost offline")
    t = Tcp(br.port)
    r = t.ask("status")
    check(r.startswith("OK {"), f"the bridge's status: {r}")


def watch_until(proc, pred, what):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        line = proc.stdout.readline()
        check(line, f"watch ended before {what}")
        obj = json.loads(line)
        if pred(obj):
            return obj
    check(False, f"timed out waiting for {what}")


def test_watch(env):
    b, a, c = world(env, agent_args=())
    p = subprocess.Popen([console_bin(), "--broker",
                          f"tcp://127.0.0.1:{b.port}", "--json", "watch"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    env.cleanups.append(p.kill)
    first = watch_until(p, lambda o: o["kind"] == "state",
                        "the retained state")
    check(first["car"] == "car1" and first["data"]["mode"] == "idle",
          f"first state {first}")
    c.publish(f"{CAR}/set/drive", "forward 40 300")
    watch_until(p, lambda o: o["kind"] == "state" and
                o["data"]["throttle"] == 40, "the driving state")
    ev = watch_until(p, lambda o: o["kind"] == "event",
                     "the failsafe event")
    check(ev["data"]["event"] == "failsafe", f"event {ev}")
    a.signal(signal.SIGTERM)
    watch_until(p, lambda o: o["kind"] == "status" and
                o["data"] == "offline", "the car going offline")
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=DEADLINE_S)
    err = p.stderr.read()
    clean_stderr(err, "watch")
    check(rc == 0, f"watch after SIGINT: exit {rc}: {err}")
    # Text lines; and a reader that goes away (`| head -n 1`) ends it at
    # once with 0, though no car will publish anything more.
    p = subprocess.Popen([console_bin(), "--broker",
                          f"tcp://127.0.0.1:{b.port}", "watch", "all"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    env.cleanups.append(p.kill)
    line = p.stdout.readline().split()
    check(line[1:3] in (["car1", "status"], ["car1", "state"]),
          f"watch all printed {line}")
    p.stdout.close()
    rc = p.wait(timeout=DEADLINE_S)
    err = p.stderr.read()
    clean_stderr(err, "watch all")
    check(rc == 0, f"watch after its reader left: exit {rc}: {err}")


# ==== The dashboard in a real terminal ====

class Tmux:
    """A tmux server of the test's own, running a shell in one pane."""

    def __init__(self, env, cols=100, rows=30):
        need_tool("tmux")
        self.env = env
        self.sock = os.path.join(env.dir, "tmux.sock")
        self.err = os.path.join(env.dir, "console-stderr.log")
        env.cleanups.append(self.kill)
        self.tmux("new-session", "-d", "-x", str(cols), "-y", str(rows),
                  "env", "PS1=$ ", "sh")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, *args], check=True,
                              capture_output=True, text=True,
                              timeout=DEADLINE_S).stdout

    def kill(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"],
                       capture_output=True)

    def type(self, line):
        self.tmux("send-keys", "-l", line)
        self.tmux("send-keys", "Enter")

    def keys(self, *keys):
        self.tmux("send-keys", *keys)

    def screen(self):
        return self.tmux("capture-pane", "-p")

    def fmt(self, name):
        return self.tmux("display-message", "-p", f"#{{{name}}}").strip()

    def wait_screen(self, text, what=None):
        return wait_until(lambda: text in self.screen(),
                          what or f"{text!r} on the screen")

    def console(self, broker, *args):
        self.type(f"{console_bin()} --broker tcp://127.0.0.1:{broker.port} "
                  f"{' '.join(args)} 2>{self.err}; echo EXIT=$?")
        self.wait_screen("W/S throttle", "the dashboard")
        return self

    def console_pid(self):
        shell = int(self.fmt("pane_pid"))

        def find():
            for pid in os.listdir("/proc"):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    with open(f"/proc/{pid}/comm") as f:
                        comm = f.read().strip()
                except (OSError, ValueError, IndexError):
                    continue
                if int(fields[1]) == shell and comm == "pc-console":
                    return int(pid)
            return None
        return wait_until(find, "the pc-console process")

    def ended(self, status):
        self.wait_screen(f"EXIT={status}", f"the console to exit {status}")
        try:
            with open(self.err, errors="replace") as f:
                clean_stderr(f.read(), "pc-console (TUI)")
        except FileNotFoundError:
            pass

    def stty(self, name):
        """The tty's modes now, as `stty -a` says them."""
        path = os.path.join(self.env.dir, name)
        self.type(f"stty -a >{path}")
        wait_until(lambda: os.path.exists(path) and os.path.getsize(path),
                   "stty's output")
        with open(path) as f:
            return f.read()

    def check_restored(self, before):
        """Back on the main screen, cursor shown, the tty as it was."""
        check(self.fmt("alternate_on") == "0", "still on the alternate screen")
        check(self.fmt("cursor_flag") == "1", "the cursor is still hidden")
        after = self.stty(f"stty-{time.monotonic_ns()}.txt")
        check(after == before, f"the tty modes changed:\n{before}\n{after}")


def test_tui_shows_an_ackermann_car(env):
    b, a, c = world(env, agent_args=[*LONG_TTL, "--drivetrain", "ackermann"])
    t = Tmux(env).console(b)
    t.wait_screen("ackermann: steer is the wheels' angle")
    c.publish(f"{CAR}/set/drive", "drive 40 -30 60000")
    t.wait_screen("-30  setpoint")
    scr = t.screen()
    check(re.search(r"^\s*motor\s.*\+40", scr, re.M) and
          not re.search(r"^\s*right\s", scr, re.M),
          f"one motor at 40, no right wheel:\n{scr}")
    t.keys("q")
    t.ended(0)


def test_tui_shows_the_car(env):
    b, a, c = world(env)
    t = Tmux(env).console(b)
    t.wait_screen("car1 ONLINE")
    t.wait_screen("mode      idle")
    scr = t.screen()
    for text in ("[car1] online", "broker connected", "throttle", "steer",
                 "left", "right", "distance", "! = stop distance 25 cm",
                 "e-stop OFF", "obstacle OFF", "speed limit 100 %"):
        check(text in scr, f"{text!r} is not on the screen:\n{scr}")
    t.keys("?")
    t.wait_screen("this help")
    t.keys("x")
    t.wait_screen("W/S throttle")
    # A smaller window redraws to fit, a tiny one says so.
    t.tmux("resize-window", "-x", "40", "-y", "10")
    t.wait_screen("the terminal is 40x10")
    t.tmux("resize-window", "-x", "90", "-y", "28")
    t.wait_screen("mode      idle")
    t.keys("q")
    t.ended(0)


def test_tui_keys_drive_the_car(env):
    b, a, c = world(env)
    a2 = env.agent(b, car="car2")
    t = Tmux(env).console(b)
    t.wait_screen("car1 ONLINE")
    t.keys("w", "w", "Up", "d")
    st = wait_state(c, mode="driving", throttle=30, steer=10)
    check(st["ttl_ms"] == 500, f"streamed with ttl {st['ttl_ms']}")
    t.wait_screen("setpoint  +30")
    # Held by streaming, far past one TTL, without another key.
    mark = c.mark()
    wait_until(lambda: len([m for m in c.received(f"{CAR}/result", mark)])
               >= 20, "20 streamed commands (one second at 20 Hz)")
    check(not [m for m in c.received(f"{CAR}/event", mark)
               if m.json().get("event") == "failsafe"],
          "the car failed safe while the console was streaming")
    t.keys("Left", "a", "s", "Down")
    wait_state(c, throttle=10, steer=-10)
    t.keys("Space")
    wait_state(c, mode="idle", throttle=0, steer=0)
    t.keys("e")
    wait_state(c, mode="estop", estop="ON")
    t.wait_screen("e-stop ON")
    t.keys("w")
    t.wait_screen("e-stop is latched")
    check(a.outputs() in (None, (0, 0)), "the motors moved under e-stop")
    t.keys("E")
    wait_state(c, estop="OFF")
    t.keys("-", "-", "-")
    wait_state(c, speed_limit=70)
    t.keys("+")
    wait_state(c, speed_limit=80)
    # Tab: the next car, which the keys now drive.
    c2 = env.car_client(b, "car2")
    t.keys("Tab")
    t.wait_screen("car car2")
    t.keys("w")
    wait_state(c2, car="car2", mode="driving", throttle=10)
    t.keys("q")
    t.ended(0)
    # Quitting while driving stops the car at once, not after the TTL.
    wait_state(c2, car="car2", mode="idle", throttle=0)
    check(a2.proc.poll() is None, "car2 died")


def test_tui_restores_the_terminal(env):
    b, a, c = world(env)
    t = Tmux(env)
    before = t.stty("stty-before.txt")
    check(" icanon " in before and " echo " in before, f"stty: {before}")
    for how in ("q", "C-c", "SIGTERM", "SIGSEGV"):
        t.type("clear")
        t.console(b)
        t.wait_screen("car1 ONLINE")
        check(t.fmt("alternate_on") == "1", "the dashboard is not on the "
              "alternate screen")
        if how.startswith("SIG"):
            os.kill(t.console_pid(), getattr(signal, how))
        else:
            t.keys(how)
        if how == "SIGSEGV":
            # A crash keeps its status (128 + 11), the terminal is sane.
            t.wait_screen("EXIT=139", "the crash's exit status")
        else:
            t.ended(0)
        t.check_restored(before)


def test_tui_killed_car_stops(env):
    """kill -9 while driving: nothing more is sent, and the car stops by
    itself within its TTL (the failsafe event says ttl)."""
    b, a, c = world(env)
    t = Tmux(env).console(b, "--ttl-ms", "300")
    t.wait_screen("car1 ONLINE")
    t.keys("w", "w", "w")
    wait_state(c, mode="driving", throttle=30, ttl_ms=300)
    mark = c.mark()
    killed = time.monotonic()
    os.kill(t.console_pid(), signal.SIGKILL)
    ev = c.wait_for(f"{CAR}/event", event_is("failsafe"), since=mark,
                    what="the failsafe event").json()
    stopped = time.monotonic() - killed
    check(ev.get("reason") == "ttl", f"failsafe for {ev}")
    wait_state(c, since=mark, mode="failsafe", moving="OFF")
    a.wait_outputs(0, 0)
    t.wait_screen("EXIT=137")
    print(f"car stopped {stopped * 1000:.0f} ms after kill -9 (ttl 300 ms)")


def test_tui_car_offline_shows(env):
    b, a, c = world(env)
    t = Tmux(env).console(b)
    t.wait_screen("car1 ONLINE")
    t.keys("w")
    wait_state(c, mode="driving", throttle=10)
    a.signal(signal.SIGTERM)
    check(a.wait_exit() == 0, "the car did not stop cleanly")
    t.wait_screen("car1 OFFLINE")
    t.wait_screen("car1 went offline")
    t.wait_screen("setpoint   +0", "the setpoint reset to zero")
    t.wait_screen("setpoint zero, nothing streaming")
    # Back online: shown, and not driving until a new key.
    env.agent(b)
    t.wait_screen("car1 ONLINE")
    st = wait_state(c, mode="idle")
    check(st["throttle"] == 0, f"the car came back driving: {st}")
    t.keys("q")
    t.ended(0)


def test_tui_gamepad(env):
    """A joystick device (here a FIFO fed with js_events) drives too."""
    b, a, c = world(env)
    fifo = os.path.join(env.dir, "js0")
    os.mkfifo(fifo)
    t = Tmux(env).console(b, "--gamepad", fifo)
    t.wait_screen(f"gamepad {fifo}")
    pad = os.open(fifo, os.O_WRONLY)
    env.cleanups.append(lambda: os.close(pad))

    def js(kind, number, value):
        os.write(pad, struct.pack("<IhBB", 0, value, kind, number))
    js(0x02, 1, -32767)  # left stick full up
    js(0x02, 0, 16384)   # and half right
    # The two axis events may be read apart, so the car may first see
    # throttle 100 with steer 0; wait for the state with both.
    c.wait_for("iotcar/car1/state",
               lambda m: (m.json().get("mode") == "driving"
                          and m.json().get("throttle") == 100
                          and 30 < (m.json().get("steer") or 0) < 50),
               what="state with throttle 100 and steer 30..50")
    js(0x02, 1, 0)
    js(0x02, 0, 0)
    wait_state(c, mode="idle", throttle=0, steer=0)
    js(0x02, 1, -16000)
    wait_state(c, mode="driving")
    js(0x01, 0, 1)  # button A: stop
    wait_state(c, mode="idle", throttle=0)
    js(0x01, 1, 1)  # button B: e-stop
    wait_state(c, estop="ON")
    t.keys("q")
    t.ended(0)


if __name__ == "__main__":
    main(globals())

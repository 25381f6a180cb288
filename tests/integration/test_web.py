#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The web dashboard (broker/www) in Debian's headless Chromium, served by
Mosquitto's own websockets listener and talking MQTT.js to it, with the
real car agent behind: what it shows, and every way of driving — and of
stopping — observed on the car's MQTT topics."""
import json
import os
import select
import signal
import subprocess
import time

from harness import (DEADLINE_S, SOURCE_DIR, Agent, Broker, check, event_is,
                     free_port, main, need_tool, wait_state, wait_until)
from test_broker import PASSWORDS, production_broker, rewrite

CAR = "iotcar/car1"
WWW = os.path.join(SOURCE_DIR, "broker", "www")
WEB = os.path.join(SOURCE_DIR, "tests", "web")
TTL_S = 0.3  # the dashboard's drive TTL (dashboard.js)


class Browser:
    """tests/web/browser.mjs: one JSON command a line, one answer a line."""

    def __init__(self, env):
        node = need_tool("node")
        check(os.path.isdir(os.path.join(WEB, "node_modules", "playwright-core")),
              "playwright-core is missing: scripts/install-deps.sh --test")
        check(os.path.isfile(os.path.join(WWW, "node_modules", "mqtt", "dist",
                                          "mqtt.min.js")),
              "MQTT.js is missing: scripts/install-deps.sh")
        self.log = open(os.path.join(env.dir, "browser.log"), "w")
        self.proc = subprocess.Popen([node, os.path.join(WEB, "browser.mjs")],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1)
        env.cleanups.append(self.quit)

    def __call__(self, cmd, **kw):
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 3 * DEADLINE_S)
        check(ready, f"the browser did not answer {cmd}")
        line = self.proc.stdout.readline()
        check(line, f"the browser exited during {cmd}")
        out = json.loads(line)
        check(out["ok"], f"browser {cmd} {kw}: {out.get('error')}")
        return out

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"cmd":"quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def world(env, width=390, height=844, agent_args=()):
    """A broker with the dashboard's websockets listener, car1, an observer
    of car1's topics, and the page open and showing car1 online."""
    port, ws = free_port(), free_port()
    b = Broker(env, port=port, conf=(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "set_tcp_nodelay true\n"
        f"listener {ws} 127.0.0.1\n"
        "protocol websockets\n"
        f"http_dir {WWW}\n"
        "allow_anonymous true\n"
        "persistence false\n")).start(ports=[port, ws])
    env.brokers.append(b)
    a = env.agent(b, args=agent_args)
    c = env.car_client(b)
    web = Browser(env)
    web.url = f"http://127.0.0.1:{ws}/"
    web("open", url=web.url, width=width, height=height)
    web("wait_text", selector="#status", text="online")
    return b, a, c, web


def no_page_errors(web):
    errors = web("errors")["errors"]
    check(not errors, f"the page reported: {errors}")


def test_page_shows_the_car_on_a_phone(env):
    b, a, c, web = world(env)
    web("wait_text", selector="#mode", text="idle")
    web("wait_text", selector="#distance", text="200.0 cm")
    web("wait_text", selector="#link", text="broker")
    wide = web("eval", js="document.documentElement.scrollWidth")["value"]
    check(wide <= 390, f"the page is {wide} px wide on a 390 px phone")
    for sel in ("#pad", "#forward", "#stop", "#speed", "#estop"):
        box = web("eval", js=f"(() => {{ const r = document.querySelector("
                  f"'{sel}').getBoundingClientRect(); return [r.width, "
                  f"r.height, r.right]; }})()")["value"]
        check(box[0] >= 40 and box[1] >= 10 and box[2] <= 390,
              f"{sel} is {box} on a phone")
    shot = os.path.join(os.environ.get("IOTCAR_ARTIFACT_DIR", os.getcwd()),
                        "dashboard-phone.png")
    web("screenshot", path=shot)
    check(os.path.getsize(shot) > 10000, f"screenshot {shot}")
    print(f"screenshot: {shot}")
    # The car goes away: the page says so.
    a.signal(15)
    check(a.wait_exit() == 0, "the agent did not stop cleanly")
    web("wait_text", selector="#status", text="offline")
    no_page_errors(web)


def test_ackermann_car_shows_throttle_and_steering(env):
    b, a, c, web = world(env, agent_args=["--drivetrain", "ackermann",
                                          "--max-ttl-ms", "60000"])
    web("wait_text", selector="#duties-label", text="throttle / steering")
    c.publish(f"{CAR}/set/drive", "drive 40 -30 60000")
    web("wait_text", selector="#duties", text="40 / -30")
    c.publish(f"{CAR}/set/drive", "stop")
    web("wait_text", selector="#duties", text="0 / 0")
    no_page_errors(web)


def test_presence_without_retained_or_will(env):
    """The page shows a car that goes silent (no will: its connection stays
    open) offline within the presence bound, with why; and fills in a car
    whose retained status and state are gone with `get`."""
    b, a, c, web = world(env)
    web("wait_text", selector="#mode", text="idle")
    wait_until(lambda: web("eval", js="link !== null")["value"],
               "the page to hear a ping")
    a.signal(signal.SIGSTOP)
    try:
        web("wait_text", selector="#status", text="offline (not heard for")
    finally:
        a.signal(signal.SIGCONT)
    web("wait_text", selector="#status", text="online")
    for kind in ("status", "state"):
        c.publish(f"{CAR}/{kind}", "", qos=1, retain=True)
    m = c.mark()
    web("open", url=web.url)
    c.wait_for(f"{CAR}/get", since=m, what="the page's get")
    web("wait_text", selector="#mode", text="idle")
    web("wait_text", selector="#status", text="online")
    no_page_errors(web)


def test_holding_forward_streams_and_letting_go_stops(env):
    b, a, c, web = world(env)
    m = c.mark()
    web("down", selector="#forward")
    s = wait_state(c, since=m, mode="driving")
    check(s["throttle"] > 0 and s["steer"] == 0 and s["moving"] == "ON",
          f"forward: {s}")
    # Held for ten TTLs: the 20 Hz stream keeps the car going.
    wait_until(lambda: len(c.received(f"{CAR}/set", since=m)) >= 60,
               "three seconds of streamed commands", timeout=DEADLINE_S)
    sent = [x.json() for x in c.received(f"{CAR}/set", since=m)]
    check(all(x.get("ttl_ms") == 300 and x.get("throttle") == 60
              for x in sent), f"streamed {sent[:3]}")
    fails = [x for x in c.received(f"{CAR}/event", since=m)
             if x.json()["event"] == "failsafe"]
    check(not fails, f"the car hit its deadman while held: {fails}")
    web("wait_text", selector="#mode", text="driving")
    r = c.mark()
    web("up")
    wait_state(c, since=r, mode="idle", moving="OFF")
    c.wait_for(f"{CAR}/set/drive", lambda x: x.text == "stop", since=r,
               what="the stop sent on letting go")
    a.wait_outputs(0, 0)
    no_page_errors(web)


def test_closing_the_page_while_held_stops_within_the_ttl(env):
    b, a, c, web = world(env)
    m = c.mark()
    web("down", selector="#forward")
    wait_state(c, since=m, mode="driving")
    r = c.mark()
    t0 = time.monotonic()
    web("close")
    st = c.wait_for(f"{CAR}/state", lambda x: x.json()["moving"] == "OFF",
                    since=r, what="the car to stop after the page closed")
    took = st.time - t0
    # The deadman's bound, with room for a loaded machine's scheduling.
    check(took <= TTL_S + 0.5, f"stopped {took:.3f} s after the page closed")
    print(f"stopped {took * 1000:.0f} ms after the page closed")


def test_hiding_the_page_stops(env):
    b, a, c, web = world(env)
    m = c.mark()
    web("down", selector="#backward")
    s = wait_state(c, since=m, mode="driving")
    check(s["throttle"] < 0, f"backward: {s}")
    r = c.mark()
    web("hide")
    wait_state(c, since=r, mode="idle", moving="OFF")
    c.wait_for(f"{CAR}/set/drive", lambda x: x.text == "stop", since=r,
               what="the stop sent on hiding")


def test_joystick_and_keys(env):
    b, a, c, web = world(env, width=1024, height=768)
    m = c.mark()
    web("drag", selector="#pad", dx=0.5, dy=-0.5)
    # The knob travels there: the car follows it, ending up and right.
    c.wait_for(f"{CAR}/state", lambda x: x.json()["throttle"] >= 45 and
               x.json()["steer"] >= 45 and x.json()["mode"] == "driving",
               since=m, what="throttle and steer near 50 from the joystick")
    r = c.mark()
    web("up")
    wait_state(c, since=r, mode="idle")
    m = c.mark()
    web("key", key="ArrowLeft", action="down")
    s = wait_state(c, since=m, mode="driving")
    check(s["steer"] < 0 and s["left"] < 0 < s["right"], f"left: {s}")
    r = c.mark()
    web("key", key="ArrowLeft", action="up")
    wait_state(c, since=r, mode="idle")
    no_page_errors(web)


def test_speed_limit_and_estop(env):
    b, a, c, web = world(env)
    m = c.mark()
    web("fill_range", selector="#speed", value=40)
    wait_state(c, since=m, speed_limit=40)
    web("wait_text", selector="#speed-value", text="40")
    m = c.mark()
    web("click", selector="#estop")
    wait_state(c, since=m, estop="ON", mode="estop")
    web("wait_text", selector="#estop", text="RELEASE")
    # Under the e-stop the car refuses; the page cannot move it.
    r = c.mark()
    web("down", selector="#forward")
    c.wait_for(f"{CAR}/result", lambda x: x.json().get("error") == "estop",
               since=r, what="the e-stop refusing the page's drive")
    web("up")
    a.wait_outputs(0, 0)
    m = c.mark()
    web("click", selector="#estop")
    wait_state(c, since=m, estop="OFF")
    web("wait_text", selector="#estop", text="E-STOP")
    no_page_errors(web)


def nginx(env, b):
    """broker/nginx-iotcar.conf on a free port, in front of b's loopback
    websockets listener, with b's certificates and this tree's page."""
    exe = need_tool("nginx")
    with open(os.path.join(SOURCE_DIR, "broker", "nginx-iotcar.conf")) as f:
        site = f.read()
    port = free_port()
    site = rewrite(site, "listen 8443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = rewrite(site, "listen [::]:8443 ssl;\n", "")
    site = rewrite(site, "/etc/mosquitto/iotcar", b.etc)
    site = rewrite(site, "root /usr/share/iotcar/www;", f"root {WWW};")
    site = rewrite(site, "http://127.0.0.1:9002",
                   f"http://127.0.0.1:{b.ports['ws_local']}")
    conf = os.path.join(env.dir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"pid {env.dir}/nginx.pid;\n"
                f"error_log {env.dir}/nginx-error.log;\n"
                "events {}\n"
                "http {\n"
                "include /etc/nginx/mime.types;\n"
                "access_log off;\n"
                f"client_body_temp_path {env.dir}/nginx-body;\n"
                f"proxy_temp_path {env.dir}/nginx-proxy;\n"
                f"{site}}}\n")
    with open(os.path.join(env.dir, "nginx.log"), "w") as log:
        proc = subprocess.Popen([exe, "-c", conf, "-p", env.dir, "-g",
                                 "daemon off;"], stdout=log,
                                stderr=subprocess.STDOUT)

    def stop():
        proc.terminate()
        proc.wait(timeout=10)
    env.cleanups.append(stop)
    wait_until(lambda: Broker._accepts(port) or proc.poll() is not None,
               f"nginx to listen on {port}")
    check(proc.poll() is None, f"nginx exited with {proc.returncode}")
    return port


def test_production_dashboard_logs_in_over_tls(env):
    """broker/mosquitto.conf and nginx-iotcar.conf as installed: the page
    over https and MQTT over wss on the same port, a refused login, an
    accepted one, then driving and the e-stop as an operator."""
    b = production_broker(env)
    https = nginx(env, b)
    pw = os.path.join(env.dir, "car1.pw")
    with open(pw, "w") as f:
        f.write(PASSWORDS["car1"] + "\n")
    a = Agent(env, b, "car1", ["--username", "car1", "--password-file", pw])
    env.agents.append(a)
    a.start()
    c = env.client(b.ports["plain"], username="op", password=PASSWORDS["op"])
    c.subscribe(f"{CAR}/#")
    c.wait_for(f"{CAR}/status", lambda x: x.text == "online")
    web = Browser(env)
    web("open", url=f"https://127.0.0.1:{https}/", insecure=True)
    check(web("eval", js="location.protocol")["value"] == "https:", "not https")
    web("wait_text", selector="#login-error", text="wants a user name")
    web("fill", selector="#user", value="alice")
    web("fill", selector="#password", value="wrong")
    web("click", selector="#login-button")
    web("wait_text", selector="#login-error", text="refused alice")
    web("fill", selector="#password", value=PASSWORDS["alice"])
    web("click", selector="#login-button")
    web("wait_text", selector="#status", text="online")
    web("wait_text", selector="#link", text="alice")
    check(web("eval", js="document.getElementById('login').hidden")["value"],
          "the login form is still shown")
    kept = web("eval", js="[sessionStorage.getItem('iotcar-login') !== null, "
               "localStorage.getItem('iotcar-login') === null]")["value"]
    check(kept == [True, True], f"not kept for the session only: {kept}")
    m = c.mark()
    web("down", selector="#forward")
    wait_state(c, since=m, mode="driving")
    web("up")
    wait_state(c, since=c.mark(), mode="idle")
    m = c.mark()
    web("click", selector="#estop")
    wait_state(c, since=m, estop="ON", mode="estop")
    a.wait_outputs(0, 0)


if __name__ == "__main__":
    main(globals())

# SPDX-License-Identifier: MIT
"""Integration-test harness (Mosquitto's test/mosq_test.py in spirit).

Each test gets its own temporary directory, its own Mosquitto on a free
loopback port and its own car agents, and everything is stopped at the end
even when the test fails. Waiting is always for an observable event (an MQTT
message, a line of the simulated car's output trace, a process exit) with a
deadline, never a bare sleep. A missing tool is a failure, not a skip.

Run a file's tests with `python3 test_x.py [name...]`; CTest runs one test
per process. Environment: IOTCAR_AGENT (car-agent binary), IOTCAR_SOURCE_DIR,
IOTCAR_TEST_KEEP=1 to keep a passing test's directory (a failing test's is
always kept and its logs printed).
"""
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
except ImportError:
    sys.exit("FAIL: python3-paho-mqtt is missing: run scripts/install-deps.sh"
             " --test (tests run with /usr/bin/python3)")

# Generous: the tests also run under ASan on a loaded 2-core machine.
# A deadline only bounds a failure; a passing test never waits for it.
DEADLINE_S = float(os.environ.get("IOTCAR_TEST_DEADLINE_S", "10"))
SOURCE_DIR = os.environ.get(
    "IOTCAR_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class TestFailure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def need_tool(name):
    # Debian installs mosquitto in /usr/sbin, off an ordinary user's PATH.
    path = shutil.which(name, path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/sbin")
    check(path is not None,
          f"{name} is not installed: run scripts/install-deps.sh --test")
    return path


_ports_given = set()


def free_port():
    """A loopback port free now and not handed out before in this process.

    The kernel may give the same ephemeral port to two binds in a row once
    the first socket is closed, and a broker with two listeners needs two.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_until(pred, what, timeout=DEADLINE_S, interval=0.01):
    """Poll pred() until it returns something true; fail after timeout.

    For events without a notification of their own (a file growing, a port
    opening); MQTT messages are waited for with Client.wait_for.
    """
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise TestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Broker:
    """A Mosquitto on a loopback port, with a config written for it."""

    def __init__(self, env, port=None, conf=None, max_queued=100000):
        self.env = env
        self.port = port or free_port()
        self.proc = None
        self.conf_path = os.path.join(env.dir, f"mosquitto-{self.port}.conf")
        self.log_path = os.path.join(env.dir, f"mosquitto-{self.port}.log")
        if conf is None:
            # A deep queue per client: the tests' Python subscribers are
            # slower than the agent, and must not lose messages in floods.
            conf = (f"listener {self.port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "set_tcp_nodelay true\n"
                    "persistence false\n"
                    f"max_queued_messages {max_queued}\n")
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def start(self, ports=None):
        mosquitto = need_tool("mosquitto")
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([mosquitto, "-c", self.conf_path],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        for port in ports or [self.port]:
            wait_until(lambda: self._accepts(port) or self._died(),
                       f"mosquitto to listen on {port}")
        check(self.proc.poll() is None,
              f"mosquitto exited with {self.proc.returncode}:\n" + self.log())
        return self

    def _died(self):
        return self.proc.poll() is not None

    @staticmethod
    def _accepts(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


class Daemon:
    """A process of ours (car-agent, car-bridge) with a log of its own."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        # One log per process, even for a car started twice.
        env.started += 1
        self.log_path = os.path.join(env.dir, f"{name}-{env.started}.log")
        self.argv = []
        self.proc = None
        self.expect_killed = False

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.argv, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        return self

    def signal(self, signo):
        self.proc.send_signal(signo)

    def kill(self):
        self.expect_killed = True
        self.proc.kill()
        self.proc.wait()

    def wait_exit(self, timeout=DEADLINE_S):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"{self.name} did not exit within "
                              f"{timeout:.0f} s")

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def finish(self):
        """Stop with SIGTERM and insist on a clean exit (catches leaks and
        sanitizer reports, which make the exit code non-zero)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            rc = self.wait_exit()
        else:
            rc = self.proc.returncode
        if self.expect_killed:
            return
        check(rc == 0, f"{self.name} exited with {rc}")
        log = self.log()
        for bad in ("ERROR: AddressSanitizer", "runtime error:",
                    "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer"):
            check(bad not in log, f"{self.name}: {bad}")


class Agent(Daemon):
    """A real car-agent process on the simulated car (in host netns of a
    Net when given)."""

    def __init__(self, env, broker, car="car1", args=(), broker_uri=None,
                 netns=None):
        super().__init__(env, f"agent-{car}")
        self.car = car
        self.trace_path = os.path.join(env.dir, f"trace-{car}.txt")
        uri = broker_uri or f"tcp://127.0.0.1:{broker.port}"
        prefix = [need_tool("ip"), "netns", "exec", netns] if netns else []
        self.argv = [*prefix, env.agent_bin, "--broker", uri, "--id", car,
                     "--sim-trace", self.trace_path, "--log-level", "debug",
                     "--reconnect-min-ms", "100", "--reconnect-max-ms", "500",
                     *args]

    def trace(self):
        """The hardware layer's output changes: [(t, left, right)], and
        the steering after them on an Ackermann car."""
        try:
            with open(self.trace_path) as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            t, *outputs = line.split()
            out.append((float(t), *map(int, outputs)))
        return out

    def outputs(self):
        tr = self.trace()
        return (tr[-1][1], tr[-1][2]) if tr else None

    def moved_after(self, t, allowed=()):
        """Trace lines after monotonic time t with outputs that are not
        (0, 0) and not one of the allowed pairs."""
        return [x for x in self.trace()
                if x[0] > t and (x[1], x[2]) != (0, 0) and
                (x[1], x[2]) not in allowed]

    def wait_outputs(self, left, right, what=None):
        return wait_until(lambda: self.outputs() == (left, right),
                          what or f"the motors of {self.car} at {left}/{right}")


class Bridge(Daemon):
    """A real car-bridge process, TCP and UDP on one loopback port."""

    def __init__(self, env, broker, args=(), port=None, listen=None):
        super().__init__(env, "bridge")
        bin_ = os.environ.get("IOTCAR_BRIDGE", "")
        check(os.access(bin_, os.X_OK),
              f"IOTCAR_BRIDGE={bin_!r} is not a car-bridge binary")
        self.port = port or free_port()
        self.listen = listen or f"127.0.0.1:{self.port}"
        self.argv = [bin_, "--broker", f"tcp://127.0.0.1:{broker.port}",
                     "--listen", self.listen, "--log-level", "debug",
                     "--reconnect-min-ms", "100", "--reconnect-max-ms", "500",
                     *args]


class Tcp:
    """A socket client that reads whole lines, with deadlines."""

    def __init__(self, port, host="127.0.0.1", rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(DEADLINE_S)
        self.s.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self, timeout=DEADLINE_S):
        """The next line, without its newline; b'' at end of stream."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            check(left > 0, f"no reply line within {timeout:.0f} s "
                  f"(have {self.buf[:80]!r})")
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def ask(self, msg):
        self.send(msg if msg.endswith("\n") else msg + "\n")
        return self.line().decode()

    def closed(self, timeout=DEADLINE_S):
        """Read until the bridge closes the connection; the lines seen."""
        lines = []
        while True:
            line = self.line(timeout)
            if line == b"" and not self.buf:
                return lines
            lines.append(line)

    def close(self):
        self.s.close()


class Message:
    def __init__(self, msg):
        self.topic = msg.topic
        self.payload = msg.payload
        self.retain = bool(msg.retain)
        self.qos = msg.qos
        self.properties = msg.properties
        self.time = time.monotonic()

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.payload)

    def __repr__(self):
        return f"{self.topic} {self.text[:200]!r}{' (retained)' if self.retain else ''}"


class NotifySocket:
    """systemd's side of Type=notify and WatchdogSec=: a datagram socket,
    and $NOTIFY_SOCKET and $WATCHDOG_USEC for the next process started
    (call started() after starting it)."""

    def __init__(self, env, watchdog_ms):
        self.watchdog_s = watchdog_ms / 1000
        self.path = os.path.join(env.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        env.cleanups.append(self.sock.close)
        os.environ["NOTIFY_SOCKET"] = self.path
        os.environ["WATCHDOG_USEC"] = str(watchdog_ms * 1000)

    def started(self):
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]

    def ready_and_pinging(self, pings=4):
        """READY=1, then each WATCHDOG=1 within the watchdog's period, as
        systemd wants them."""
        self.wait_for("READY=1")
        for _ in range(pings):
            self.wait_for("WATCHDOG=1", timeout=self.watchdog_s)

    def wait_for(self, text, timeout=DEADLINE_S):
        """The monotonic time of the next datagram that has the line text."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(end - time.monotonic(), 0.01))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            if text in data.split("\n"):
                return time.monotonic()
        raise TestFailure(f"no {text} on the notify socket in {timeout} s")


class Client:
    """An MQTT v5 client that records everything it receives, in order."""

    def __init__(self, env, port, client_id="", username=None, password=None,
                 tls=None):
        self.env = env
        self.messages = []
        self.cond = threading.Condition()
        self.acked = set()
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.c.username_pw_set(username, password)
        if tls:
            self.c.tls_set(**tls)
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_ack
        self.connected = threading.Event()
        self.connect_rc = None
        self.c.on_connect = self._on_connect
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        end = time.monotonic() + DEADLINE_S
        while not self.connected.wait(0.05):
            check(time.monotonic() < end, f"MQTT connect to {port} timed out")
        check(self.connect_rc == 0, f"MQTT connect refused: {self.connect_rc}")
        env.clients.append(self)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connect_rc = rc.value if hasattr(rc, "value") else rc
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(Message(msg))
            self.cond.notify_all()

    def _on_ack(self, client, userdata, mid, *args):
        with self.cond:
            self.acked.add(mid)
            self.cond.notify_all()

    def subscribe(self, topic, qos=1):
        rc, mid = self.c.subscribe(topic, qos)
        check(rc == 0, f"subscribe {topic} failed: {rc}")
        with self.cond:
            ok = self.cond.wait_for(lambda: mid in self.acked, DEADLINE_S)
        check(ok, f"no SUBACK for {topic}")
        return self

    def publish(self, topic, payload, qos=0, retain=False, props=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain,
                              properties=props)
        info.wait_for_publish(DEADLINE_S)
        check(info.is_published(), f"publish to {topic} not completed")

    def request(self, topic, payload, response_topic, correlation):
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = response_topic
        props.CorrelationData = correlation
        self.publish(topic, payload, qos=1, props=props)

    def mark(self):
        """Where the next wait_for starts looking."""
        with self.cond:
            return len(self.messages)

    def received(self, topic=None, since=0):
        with self.cond:
            return [m for m in self.messages[since:]
                    if topic is None or m.topic == topic]

    def wait_for(self, topic, pred=lambda m: True, since=0, what=None,
                 timeout=DEADLINE_S):
        """The first message on topic, at or after since, that pred accepts."""
        def find():
            for m in self.messages[since:]:
                if m.topic == topic and pred(m):
                    return m
            return None
        with self.cond:
            m = self.cond.wait_for(find, timeout)
        if m is None:
            seen = "\n  ".join(repr(x) for x in self.received(since=since)[-15:])
            raise TestFailure(f"timed out after {timeout:.0f} s waiting for "
                              f"{what or topic}; last messages:\n  {seen}")
        return m

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class Env:
    """One test's world: a directory, brokers, agents and clients."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"iotcar-{name}-")
        self.agent_bin = os.environ.get("IOTCAR_AGENT", "")
        self.brokers = []
        self.agents = []
        self.clients = []
        # Called first at cleanup: kill helper processes and the like.
        self.cleanups = []
        # Called last, once every process is gone (network namespaces).
        self.finals = []
        self.started = 0

    def broker(self, **kw):
        b = Broker(self, **kw).start()
        self.brokers.append(b)
        return b

    def bridge(self, broker, args=(), wait_online=True, **kw):
        b = Bridge(self, broker, args, **kw)
        self.agents.append(b)
        if wait_online:
            watcher = self.client(broker.port)
            watcher.subscribe("iotcar/bridge/+/status")
            b.start()
            watcher.wait_for("iotcar/bridge/bridge1/status",
                             lambda m: m.text == "online",
                             what="the bridge to be online")
        else:
            b.start()
        return b

    def agent(self, broker, car="car1", args=(), wait_online=True, **kw):
        check(os.access(self.agent_bin, os.X_OK),
              f"IOTCAR_AGENT={self.agent_bin!r} is not a car-agent binary")
        a = Agent(self, broker, car, args, **kw)
        self.agents.append(a)
        if wait_online:
            watcher = self.client(broker.port)
            watcher.subscribe(f"iotcar/{car}/status")
            a.start()
            watcher.wait_for(f"iotcar/{car}/status",
                             lambda m: m.text == "online",
                             what=f"{car} to be online")
        else:
            a.start()
        return a

    def client(self, port, **kw):
        return Client(self, port, **kw)

    def car_client(self, broker, car="car1"):
        """A client that already follows everything about one car."""
        return self.client(broker.port).subscribe(f"iotcar/{car}/#")

    def cleanup(self, failed):
        errors = []
        for fn in self.cleanups:
            try:
                fn()
            except Exception as e:
                errors.append(f"cleanup: {e}")
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        for a in self.agents:
            try:
                a.finish()
            except TestFailure as e:
                errors.append(str(e))
            finally:
                if a.proc and a.proc.poll() is None:
                    a.proc.kill()
        for b in self.brokers:
            b.stop()
        for fn in self.finals:
            try:
                fn()
            except Exception as e:
                errors.append(f"cleanup: {e}")
        if failed or errors:
            for a in self.agents:
                sys.stderr.write(f"---- {a.name} log (last 60 lines)\n")
                sys.stderr.write("\n".join(a.log().splitlines()[-60:]) + "\n")
            for b in self.brokers:
                sys.stderr.write(f"---- mosquitto {b.port} log (last 30 lines)\n")
                sys.stderr.write("\n".join(b.log().splitlines()[-30:]) + "\n")
        elif not os.environ.get("IOTCAR_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return errors


# ==== Hosts of a test's own: network namespaces ====

CLONE_NEWNET = 0x40000000


class Net:
    """Three hosts of the test's own in network namespaces, the car, a
    router and the broker, on veth pairs, so that the link between car and
    broker can fail the way Wi-Fi does: silently (blackhole routes in the
    router: no FIN, no RST, no ICMP) or by losing its carrier. The test
    process moves into the broker's host, so its brokers, bridges and
    clients live there; car agents start in the car's (Agent netns=).
    Traffic goes only to addresses inside these namespaces. Needs root
    (CI runs as root); everything is removed at cleanup."""
    CAR = "10.0.1.2"
    BROKER = "10.0.2.2"

    def __init__(self, env):
        check(os.geteuid() == 0, "network namespaces need root")
        self.ip = need_tool("ip")
        tag = secrets.token_hex(3)
        self.ns = {h: f"iotcar-{tag}-{h}" for h in ("car", "rtr", "brk")}
        self.made = []
        env.finals.append(self.remove)
        for n in self.ns.values():
            self._ip("netns", "add", n)
            self.made.append(n)
            self._ip("-n", n, "link", "set", "lo", "up")
        car, rtr, brk = self.ns["car"], self.ns["rtr"], self.ns["brk"]
        self._ip("link", "add", "vcar", "netns", car, "type", "veth",
                 "peer", "name", "vrc", "netns", rtr)
        self._ip("link", "add", "vbrk", "netns", brk, "type", "veth",
                 "peer", "name", "vrb", "netns", rtr)
        for n, dev, addr in ((car, "vcar", "10.0.1.2/24"),
                             (rtr, "vrc", "10.0.1.1/24"),
                             (rtr, "vrb", "10.0.2.1/24"),
                             (brk, "vbrk", "10.0.2.2/24")):
            self._ip("-n", n, "addr", "add", addr, "dev", dev)
            self._ip("-n", n, "link", "set", dev, "up")
        self._ip("-n", car, "route", "add", "default", "via", "10.0.1.1")
        self._ip("-n", brk, "route", "add", "default", "via", "10.0.2.1")
        self._ip("netns", "exec", rtr, "sysctl", "-qw",
                 "net.ipv4.ip_forward=1")
        self._enter(brk)

    def _ip(self, *args):
        out = subprocess.run([self.ip, *args], capture_output=True,
                             text=True, timeout=DEADLINE_S)
        check(out.returncode == 0,
              f"ip {' '.join(args)}: {out.stderr.strip()}")

    @staticmethod
    def _enter(ns):
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            check(libc.setns(fd, CLONE_NEWNET) == 0,
                  f"setns {ns}: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(fd)

    def partition(self):
        """Cut car from broker without a word: packets both ways vanish."""
        for addr in (self.CAR, self.BROKER):
            self._ip("-n", self.ns["rtr"], "route", "add", "blackhole",
                     f"{addr}/32")

    def heal(self):
        for addr in (self.CAR, self.BROKER):
            self._ip("-n", self.ns["rtr"], "route", "del", "blackhole",
                     f"{addr}/32")

    def carrier(self, up):
        """The car's interface loses (or gets back) its carrier."""
        car = self.ns["car"]
        self._ip("-n", car, "link", "set", "vcar", "up" if up else "down")
        if up:
            self._ip("-n", car, "route", "replace", "default", "via",
                     "10.0.1.1")

    def broker(self, env):
        """A Mosquitto in the broker's host, on all of its addresses."""
        port = free_port()
        b = Broker(env, port=port, conf=(
            f"listener {port}\n"
            "allow_anonymous true\n"
            "set_tcp_nodelay true\n"
            "persistence false\n"
            "max_queued_messages 100000\n")).start()
        env.brokers.append(b)
        return b

    def agent(self, env, broker, args=(), **kw):
        """car1 in the car's host, its broker across the router."""
        return env.agent(broker, args=args, netns=self.ns["car"],
                         broker_uri=f"tcp://{self.BROKER}:{broker.port}",
                         **kw)

    def remove(self):
        for n in self.made:
            subprocess.run([self.ip, "netns", "del", n], capture_output=True)
        self.made = []


# ==== The usual world ====

# Drive commands that live until the test stops them.
LONG_TTL = ("--max-ttl-ms", "60000")


def world(env, agent_args=LONG_TTL, bridge_args=None, client=True):
    """A broker, car1 on it, a bridge when bridge_args is given (() for
    one with no arguments), and a client that follows car1's topics:
    (broker, agent[, bridge][, client])."""
    b = env.broker()
    out = [b, env.agent(b, args=agent_args)]
    if bridge_args is not None:
        out.append(env.bridge(b, args=bridge_args))
    if client:
        out.append(env.car_client(b))
    return tuple(out)


# ==== Helpers for car state ====

def state_is(**want):
    def pred(m):
        s = m.json()
        return all(s.get(k) == v for k, v in want.items())
    return pred


def wait_state(client, car="car1", since=0, what=None, **want):
    return client.wait_for(f"iotcar/{car}/state", state_is(**want), since=since,
                           what=what or f"state with {want}").json()


def event_is(name, **want):
    def pred(m):
        e = m.json()
        return e.get("event") == name and all(e.get(k) == v for k, v in want.items())
    return pred


def result_is(**want):
    def pred(m):
        r = m.json()
        return all(r.get(k) == v for k, v in want.items())
    return pred


# ==== Runner ====

def main(tests):
    """Run the test functions named on the command line (all by default)."""
    names = sys.argv[1:] or sorted(n for n in tests if n.startswith("test_"))
    failures = 0
    for name in names:
        fn = tests.get(name)
        if fn is None:
            print(f"FAIL {name}: no such test")
            failures += 1
            continue
        env = Env(name)
        start = time.monotonic()
        failed = False
        try:
            fn(env)
        except Exception:
            failed = True
            traceback.print_exc()
        errors = env.cleanup(failed)
        for e in errors:
            print(f"  cleanup: {e}")
        failed = failed or bool(errors)
        failures += failed
        print(f"{'FAIL' if failed else 'ok  '} {name} "
              f"({time.monotonic() - start:.2f} s)")
    sys.exit(1 if failures else 0)

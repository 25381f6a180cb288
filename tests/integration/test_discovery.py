#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Home Assistant MQTT discovery, as Home Assistant would read it: the
configs the car agent publishes (both formats), their keys, the topics and
templates they name checked against the car's real messages, the entities
used to drive the car, the re-announce on Home Assistant's birth message,
and --ha-cleanup."""
import os
import re
import subprocess
import time

from harness import (DEADLINE_S, SOURCE_DIR, check, event_is, main,
                     state_is, wait_state, wait_until)

CAR = "iotcar/car1"
HA = "homeassistant"
NODE = "iotcar_car1"

# What Home Assistant requires of each component's config (its MQTT
# integration's docs), besides what we require of every one.
REQUIRED = {
    "button": {"command_topic"},
    "number": {"command_topic"},
    "switch": {"command_topic"},
    "binary_sensor": {"state_topic"},
    "sensor": {"state_topic"},
    "event": {"state_topic", "event_types"},
}
ENTITIES = {
    "button": {"forward", "backward", "left", "right", "stop"},
    "number": {"speed_limit", "speed"},
    "switch": {"estop"},
    "binary_sensor": {"moving", "obstacle"},
    "sensor": {"distance", "mode", "left_duty", "right_duty", "uptime",
               "rssi", "cpu_temp", "odometer"},
    "event": {"event"},
}
CONFIGS = sum(len(objs) for objs in ENTITIES.values())
DIAGNOSTIC = {"uptime", "rssi", "cpu_temp"}
TEMPLATE = re.compile(r"^\{\{ value_json\.([a-z_]+) \}\}$")
# The one command template: the Speed number's, a set object.
SPEED_TEMPLATE = '{"speed": {{ value | int }}}'
DASHBOARD = "http://127.0.0.1:9001/?car=car1"
ENTITY_TOPIC = re.compile(
    rf"^{HA}/([a-z_]+)/{NODE}/([a-z_]+)/config$")


def protocol_topics():
    """The topics of the topic table of docs/protocol.md §2, for car1."""
    with open(os.path.join(SOURCE_DIR, "docs", "protocol.md"),
              encoding="utf-8") as f:
        topics = set(re.findall(r"^\| `(iotcar/car1/[a-z_/]+)` \|", f.read(),
                                re.M))
    check(len(topics) >= 10, f"protocol §2's topic table: {topics}")
    return topics


def retained(env, b, pattern, marker):
    """Every retained message under pattern now: a client subscribes, then
    publishes a marker; the broker sends the retained ones before it."""
    c = env.client(b.port).subscribe(pattern)
    c.publish(marker, "marker", qos=1)
    c.wait_for(marker, what="the marker")
    return {m.topic: m for m in c.received() if m.retain}


def settled(env, b):
    """After the answer to a `get`, everything the agent published on
    connecting (its configs included) is at the broker."""
    c = env.car_client(b)
    m = c.mark()
    c.publish(f"{CAR}/get", "now", qos=1)
    c.wait_for(f"{CAR}/telemetry", since=m, what="the answer to get")


def configs(env, b, prefix=HA):
    settled(env, b)
    got = retained(env, b, f"{prefix}/#", f"{prefix}/zz_marker")
    return {t: m for t, m in got.items() if m.payload}


def run_cleanup(env, b, *args):
    r = subprocess.run([env.agent_bin, "--broker",
                        f"tcp://127.0.0.1:{b.port}", "--ha-cleanup", *args],
                       capture_output=True, text=True, timeout=DEADLINE_S)
    check(r.returncode == 0, f"--ha-cleanup exited {r.returncode}: {r.stderr}")
    check("Sanitizer" not in r.stderr and "runtime error" not in r.stderr,
          f"--ha-cleanup: a sanitizer report:\n{r.stderr}")
    return r.stderr


def check_entity_config(topic, cfg, component, obj, spec_topics):
    """The rules every entity's config follows, in either format."""
    uid = f"{NODE}_{obj}"
    check(isinstance(cfg, dict), f"{topic}: not a JSON object")
    missing = REQUIRED[component] - cfg.keys()
    check(not missing, f"{topic}: lacks {missing}")
    check(cfg.get("unique_id") == uid, f"{topic}: unique_id {cfg.get('unique_id')}")
    check(cfg.get("default_entity_id") == f"{component}.{uid}",
          f"{topic}: default_entity_id {cfg.get('default_entity_id')}")
    check("object_id" not in cfg, f"{topic}: the deprecated object_id")
    check(isinstance(cfg.get("name"), str) and cfg["name"],
          f"{topic}: no name")
    for key, value in cfg.items():
        if key.endswith("_topic"):
            check(value in spec_topics,
                  f"{topic}: {key} {value!r} is not a topic of protocol §2")
        if key == "value_template":
            check(TEMPLATE.match(value),
                  f"{topic}: {key} {value!r} is more than {{{{ value_json.x }}}}")
        elif key.endswith("_template"):
            check(key == "command_template" and value == SPEED_TEMPLATE
                  and obj == "speed", f"{topic}: {key} {value!r}")
    if "command_topic" in cfg:
        check(cfg.get("retain") is False, f"{topic}: commands retained")
        check(cfg.get("qos") in (0, 1), f"{topic}: qos {cfg.get('qos')}")
    if obj in DIAGNOSTIC:
        check(cfg.get("entity_category") == "diagnostic",
              f"{topic}: not a diagnostic")
    if component == "number":
        check(cfg.get("min") == 0 and cfg.get("max") == 100,
              f"{topic}: min/max {cfg.get('min')}/{cfg.get('max')}")


def check_shared(topic, cfg):
    dev = cfg.get("device", {})
    check(dev.get("identifiers") == [NODE] and dev.get("name"),
          f"{topic}: device {dev}")
    check(dev.get("configuration_url") == DASHBOARD,
          f"{topic}: configuration_url {dev.get('configuration_url')}")
    check(cfg.get("origin", {}).get("name"), f"{topic}: no origin")
    check(cfg.get("availability_topic") == f"{CAR}/status",
          f"{topic}: availability {cfg.get('availability_topic')}")


def entity_configs(got):
    """{(component, object): config} of the entity format."""
    out = {}
    for topic, m in got.items():
        match = ENTITY_TOPIC.match(topic)
        check(match, f"a config on an unexpected topic: {topic}")
        check(m.qos == 1, f"{topic}: QoS {m.qos}")
        out[match.groups()] = (topic, m.json())
    return out


def test_entity_configs_follow_the_rules(env):
    b = env.broker()
    env.agent(b)
    got = entity_configs(configs(env, b))
    want = {(c, o) for c, objs in ENTITIES.items() for o in objs}
    check(set(got) == want, f"entities: missing {want - set(got)}, "
          f"extra {set(got) - want}")
    spec_topics = protocol_topics()
    for (component, obj), (topic, cfg) in got.items():
        check_entity_config(topic, cfg, component, obj, spec_topics)
        check_shared(topic, cfg)
    check(len({cfg["unique_id"] for _, cfg in got.values()}) == len(got),
          "unique_id repeats")


def test_templates_read_the_cars_messages(env):
    """Every value_template's key is in the message of its state_topic."""
    b = env.broker()
    env.agent(b, args=["--telemetry-ms", "200", "--telemetry-idle-ms", "200"])
    got = entity_configs(configs(env, b))
    c = env.car_client(b)
    c.publish(f"{CAR}/set/estop", "ON", qos=1)
    ev = c.wait_for(f"{CAR}/event", event_is("estop")).json()
    latest = {f"{CAR}/state": c.wait_for(f"{CAR}/state").json(),
              f"{CAR}/telemetry": c.wait_for(f"{CAR}/telemetry").json()}
    for (component, obj), (topic, cfg) in got.items():
        if "value_template" in cfg:
            key = TEMPLATE.match(cfg["value_template"]).group(1)
            msg = latest[cfg["state_topic"]]
            check(key in msg, f"{topic}: {key} is not in {msg}")
    _, evcfg = got[("event", "event")]
    check(ev.get("event_type") in evcfg["event_types"],
          f"the event entity cannot read {ev}")


def test_entities_drive_the_car(env):
    """Pressing the buttons, moving the slider and flipping the switch, as
    Home Assistant would: each config's payload on its command_topic."""
    b = env.broker()
    env.agent(b)
    got = entity_configs(configs(env, b))
    c = env.car_client(b)

    def press(obj):
        _, cfg = got[("button", obj)]
        c.publish(cfg["command_topic"], cfg["payload_press"], qos=cfg["qos"])

    m = c.mark()
    press("forward")
    s = wait_state(c, since=m, mode="driving")
    check(s["moving"] == "ON" and s["throttle"] > 0, f"forward: {s}")
    m = c.mark()
    press("stop")
    wait_state(c, since=m, mode="idle", moving="OFF")
    m = c.mark()
    press("left")
    s = wait_state(c, since=m, mode="driving")
    check(s["left"] < 0 < s["right"], f"left: {s}")
    m = c.mark()
    press("stop")
    wait_state(c, since=m, mode="idle")

    # The Speed number, as Home Assistant renders its template: the
    # buttons then drive at it.
    _, speed = got[("number", "speed")]
    m = c.mark()
    c.publish(speed["command_topic"],
              speed["command_template"].replace("{{ value | int }}", "80"),
              qos=speed["qos"])
    wait_state(c, since=m, speed=80)
    m = c.mark()
    press("forward")
    s = wait_state(c, since=m, mode="driving")
    check(s["throttle"] == 80, f"forward at speed 80: {s}")
    m = c.mark()
    press("stop")
    wait_state(c, since=m, mode="idle")

    _, num = got[("number", "speed_limit")]
    m = c.mark()
    c.publish(num["command_topic"], "40", qos=num["qos"])
    wait_state(c, since=m, speed_limit=40)
    _, sw = got[("switch", "estop")]
    c.publish(sw["command_topic"], "ON", qos=sw["qos"])
    on_at = c.wait_for(f"{CAR}/state", state_is(estop="ON", mode="estop"),
                       since=m).time
    # The switch's OFF names no latch: the car takes it once the latch
    # is older than its guard (1 s), as a person flipping back would.
    m = c.mark()
    c.publish(sw["command_topic"], "OFF", qos=sw["qos"])
    r = c.wait_for(f"{CAR}/result", since=m).json()
    check(r["error"] == "estop", f"OFF at once: {r}")
    wait_until(lambda: time.monotonic() - on_at > 1.0, "the e-stop guard")
    m = c.mark()
    c.publish(sw["command_topic"], "OFF", qos=sw["qos"])
    wait_state(c, since=m, estop="OFF", mode="idle")


def test_reannounce_on_home_assistant_birth(env):
    b = env.broker()
    env.agent(b, args=["--ha-birth-delay-ms", "300"])
    settled(env, b)
    c = env.client(b.port).subscribe(f"{HA}/#")
    c.subscribe(f"{CAR}/state")
    m = c.mark()
    c.publish(f"{HA}/status", "offline", qos=1)
    c.publish(f"{HA}/status", "online", qos=1)
    last = f"{HA}/event/{NODE}/event/config"
    c.wait_for(last, lambda x: x.payload, since=m,
               what="the configs again after the birth message")
    again = {x.topic for x in c.received(since=m) if x.payload and
             x.topic.endswith("/config")}
    check(len(again) == CONFIGS,
          f"re-announced {len(again)} configs: {sorted(again)}")
    c.wait_for(f"{CAR}/state", since=m, what="the state after the configs")


def test_cleanup_leaves_no_config(env):
    b = env.broker()
    a = env.agent(b)
    check(configs(env, b), "no configs to clean up")
    out = run_cleanup(env, b)
    # Every entity's config, the device's, the status and the state.
    check(f"removed {CONFIGS + 3} " in out, f"--ha-cleanup said: {out}")
    left = retained(env, b, f"{HA}/#", f"{HA}/zz_marker")
    check(not left, f"configs left: {sorted(left)}")
    # The running car was not pushed off by the cleanup's connection.
    check(a.proc.poll() is None, "the car stopped")
    # Once the car is gone, the cleanup leaves nothing of it either.
    a.finish()
    run_cleanup(env, b)
    left = retained(env, b, f"{CAR}/#", f"{CAR}/zz_marker")
    check(not left, f"the car's retained messages left: {sorted(left)}")


def test_device_format_and_switching_formats(env):
    b = env.broker()
    a = env.agent(b)
    check(len(configs(env, b)) == CONFIGS, "the entity configs first")
    a.signal(15)
    check(a.wait_exit() == 0, "the agent did not stop cleanly")
    env.agents.remove(a)
    env.agent(b, args=["--ha-discovery", "device"])
    got = configs(env, b)
    topic = f"{HA}/device/{NODE}/config"
    check(list(got) == [topic], f"after switching: {sorted(got)}")
    cfg = got[topic].json()
    check_shared(topic, cfg)
    cmps = cfg.get("components", {})
    spec_topics = protocol_topics()
    want = {o: c for c, objs in ENTITIES.items() for o in objs}
    check(set(cmps) == set(want), f"components {sorted(cmps)}")
    for obj, comp in cmps.items():
        check(comp.get("platform") == want[obj], f"{obj}: {comp}")
        check_entity_config(f"{topic} {obj}", comp, want[obj], obj,
                            spec_topics)
    out = run_cleanup(env, b)
    left = retained(env, b, f"{HA}/#", f"{HA}/zz_marker")
    check(not left, f"configs left after cleanup: {sorted(left)}; {out}")


def test_prefix_and_off(env):
    b = env.broker()
    env.agent(b, args=["--ha-prefix", "my/ha", "--ha-birth-delay-ms", "0",
                       "--ha-dashboard-url", "none"])
    got = configs(env, b, prefix="my/ha")
    check(len(got) == CONFIGS and all(t.startswith("my/ha/") for t in got),
          f"under my/ha: {sorted(got)}")
    linked = [t for t, m in got.items()
              if "configuration_url" in m.json().get("device", {})]
    check(not linked, f"a link despite --ha-dashboard-url none: {linked}")
    check(not retained(env, b, f"{HA}/#", f"{HA}/zz_marker"),
          "configs under homeassistant/ despite --ha-prefix")
    c = env.client(b.port).subscribe("my/ha/#")
    m = c.mark()
    c.publish("my/ha/status", "online", qos=1)
    c.wait_for(f"my/ha/button/{NODE}/forward/config", since=m,
               what="a re-announce on my/ha/status")

    b2 = env.broker()
    env.agent(b2, args=["--ha-discovery", "off"])
    check(not configs(env, b2), "configs with --ha-discovery off")


def test_bad_settings_are_refused(env):
    for args, says in ((["--ha-discovery", "yes"], "off|entity|device"),
                       (["--ha-prefix", "ha/#"], "--ha-prefix"),
                       (["--ha-prefix", "/ha"], "--ha-prefix"),
                       (["--ha-birth-delay-ms", "-1"], "out of range")):
        r = subprocess.run([env.agent_bin, *args], capture_output=True,
                           text=True, timeout=DEADLINE_S)
        check(r.returncode == 2 and says in r.stderr,
              f"{args}: exit {r.returncode}: {r.stderr}")


if __name__ == "__main__":
    main(globals())

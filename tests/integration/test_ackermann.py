#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Ackermann car on the simulated backend (the bicycle model): what its
state says, how left/right and steering alone move it, and that every
safety stop sends neutral throttle and centred steering. The trace's lines
are (t, left, right, steer); both wheel columns are the throttle."""
import os
import re
import subprocess

from harness import (DEADLINE_S, SOURCE_DIR, check, event_is, main,
                     need_tool, result_is, wait_state, wait_until)

CAR = "iotcar/car1"
ACKERMANN = ["--drivetrain", "ackermann", "--max-ttl-ms", "60000"]


def steering(a):
    tr = a.trace()
    check(not tr or len(tr[-1]) == 4,
          f"an Ackermann car's trace has a steering column: {tr[-1:]}")
    return tr[-1][1:] if tr else None


def wait_steering(a, throttle, steer, what=None):
    wait_until(lambda: steering(a) == (throttle, throttle, steer),
               what or f"throttle {throttle} and steering {steer}")


def driving(env, drive, throttle, steer, args=()):
    """An Ackermann car given the drive text: the agent, a client and the
    mark before the command, once the outputs are there."""
    b = env.broker()
    a = env.agent(b, args=[*ACKERMANN, *args])
    c = env.car_client(b)
    m = c.mark()
    c.publish(f"{CAR}/set/drive", drive)
    wait_steering(a, throttle, steer)
    return a, c, m


def telemetry(c, since, pred, what):
    return c.wait_for(f"{CAR}/telemetry", lambda m: pred(m.json()),
                      since=since, what=what).json()


def test_state_says_ackermann(env):
    b = env.broker()
    a = env.agent(b, args=ACKERMANN)
    c = env.car_client(b)
    s = c.wait_for(f"{CAR}/state", lambda m: True).json()
    check(s["drivetrain"] == "ackermann", f"state {s}")
    wait_steering(a, 0, 0, "neutral and centred from the start")
    # A differential car says so too.
    b2 = env.broker()
    env.agent(b2)
    s = env.car_client(b2).wait_for(f"{CAR}/state", lambda m: True).json()
    check(s["drivetrain"] == "differential", f"state {s}")


def test_left_turns_while_moving(env):
    """left 30 is full lock left at 30 %: the car drives an arc to the
    left (its heading grows), it does not turn in place."""
    b = env.broker()
    a = env.agent(b, args=[*ACKERMANN, "--telemetry-ms", "100"])
    c = env.car_client(b)
    m = c.mark()
    c.publish(f"{CAR}/set/drive", "left 30 60000")
    s = wait_state(c, since=m, mode="driving")
    check((s["throttle"], s["steer"], s["left"], s["right"]) ==
          (30, -100, 30, 30), f"state {s}")
    wait_steering(a, 30, -100)
    t = telemetry(c, m, lambda t: t["heading_deg"] > 10,
                  "the heading to turn left past 10 degrees")
    check(t["x_cm"] > 0 and t["y_cm"] > 0,
          f"an arc forward and to the left: {t}")
    m = c.mark()
    c.publish(f"{CAR}/set/drive", "right 30 60000")
    wait_steering(a, 30, 100)
    t0 = telemetry(c, m, lambda t: True, "telemetry")["heading_deg"]
    telemetry(c, m, lambda t: t["heading_deg"] < t0 - 5,
              "the heading to turn back right")


def test_steering_alone_does_not_move(env):
    a, c, m = driving(env, "drive 0 50 60000", 0, 50,
                      ["--telemetry-ms", "100"])
    t = telemetry(c, m, lambda t: t["uptime_s"] >= 0, "telemetry")
    m = c.mark()
    telemetry(c, m, lambda t: True, "telemetry after a while")
    t2 = telemetry(c, m, lambda t: True, "telemetry after a while")
    check((t2["x_cm"], t2["odometer_cm"]) == (t["x_cm"], t["odometer_cm"]),
          f"the wheels turned, the car stood: {t} then {t2}")


def test_deadman_sends_neutral_and_centre(env):
    a, c, m = driving(env, "drive 40 60 300", 40, 60)
    c.wait_for(f"{CAR}/event", event_is("failsafe", reason="ttl"), since=m)
    wait_steering(a, 0, 0, "neutral and centred after the deadman")
    m = c.mark()
    c.publish(f"{CAR}/set/drive", "drive -30 -70 60000")
    wait_steering(a, -30, -70)
    c.publish(f"{CAR}/set/estop", "ON")
    wait_state(c, since=m, mode="estop")
    wait_steering(a, 0, 0, "neutral and centred on the e-stop")


def test_obstacle_stop_while_steering(env):
    a, c, m = driving(env, "drive 40 10 60000", 40, 10,
                      ["--sim-wall-cm", "45"])
    c.wait_for(f"{CAR}/event", event_is("obstacle"), since=m)
    s = wait_state(c, since=m, mode="blocked")
    check((s["left"], s["right"]) == (0, 0), f"state {s}")
    wait_steering(a, 0, 0, "neutral and centred when blocked")
    # A turn moves forward on this car: refused, and it says why.
    c.publish(f"{CAR}/set", '{"drive":"left 30","id":"l"}')
    r = c.wait_for(f"{CAR}/result", result_is(id="l"), since=m).json()
    check(r["status"] == "error" and r["error"] == "blocked" and
          "turning in place" not in r["message"], f"{r}")
    # Backing off while steering stays allowed.
    c.publish(f"{CAR}/set", '{"drive":"drive -50 -40 60000","id":"b"}')
    r = c.wait_for(f"{CAR}/result", result_is(id="b"), since=m).json()
    check(r["status"] == "ok", f"{r}")
    wait_steering(a, -50, -40)


def test_esc_double_tap_reverse(env):
    """esc_reverse = double_tap: into reverse through 100 ms of reverse
    (the ESC brakes) and 100 ms of neutral; a stop ends it at once."""
    a, c, m = driving(env, "drive 40 0 60000", 40, 0,
                      ["--esc-reverse", "double_tap"])
    t0 = a.trace()[-1][0]
    c.publish(f"{CAR}/set/drive", "drive -50 20 60000")
    after = wait_until(lambda: [x for x in a.trace() if x[0] > t0][2:] and
                       [x for x in a.trace() if x[0] > t0],
                       "three steps into reverse")
    check([x[1:] for x in after] ==
          [(-50, -50, 20), (0, 0, 20), (-50, -50, 20)],
          f"reverse, neutral, reverse: {after}")
    for (t, *_), (t2, *_) in zip(after, after[1:]):
        check(t2 - t >= 0.099, f"each step 100 ms: {after}")
    # Forward, then back: the brake step again, cut short by a stop.
    c.publish(f"{CAR}/set/drive", "forward 30 60000")
    wait_steering(a, 30, 0)
    t0 = a.trace()[-1][0]
    c.publish(f"{CAR}/set/drive", "backward 30 60000")
    c.publish(f"{CAR}/set/drive", "stop")
    wait_steering(a, 0, 0)
    check(all(x[1] in (-30, 0) for x in a.trace() if x[0] > t0),
          f"no reverse but the brake step: {a.trace()[-4:]}")
    check(a.outputs() == (0, 0) and steering(a) == (0, 0, 0),
          "stopped, and it stays so")


def agent_fails(env, args, says, user=None):
    prefix = [need_tool("setpriv"), f"--reuid={user}", f"--regid={user}",
              "--clear-groups"] if user else []
    out = subprocess.run([*prefix, env.agent_bin, "--hal", "gpiod", *args],
                         capture_output=True, text=True, timeout=DEADLINE_S)
    check(out.returncode == 1, f"{args}: exit {out.returncode}: {out.stderr}")
    check(says in out.stderr, f"{args}: the error says {says!r}: "
          f"{out.stderr!r}")


def test_wiring_errors_say_what_to_do(env):
    """The outputs a drivetrain needs, and the PCA9685's bus: each mistake
    is one clear error, before any output moves. (The VM check pca9685
    has the missing device on a real bus.)"""
    servo = ["--drivetrain", "ackermann", "--steering", "pca9685:0",
             "--throttle", "pca9685:1"]
    agent_fails(env, [*servo, "--pca9685-bus", "/nonexistent/i2c-7"],
                "does not exist: enable I2C")
    # A file that is no I2C bus.
    path = os.path.join(env.dir, "not-i2c")
    with open(path, "w") as f:
        f.write("x")
    agent_fails(env, [*servo, "--pca9685-bus", path], "0x40 on " + path)
    # A bus the user may not open: the group to join.
    os.chmod(path, 0o600)
    os.chmod(env.dir, 0o755)
    agent_fails(env, [*servo, "--pca9685-bus", path],
                "permission denied: add the user to the group",
                user=65534)
    # A servo on software PWM.
    agent_fails(env, ["--drivetrain", "ackermann", "--steering", "GPIO12",
                      "--throttle", "pca9685:1"],
                "a servo or an ESC needs a PCA9685 channel")
    agent_fails(env, [*servo, "--left-in1", "pca9685:2"],
                "left_in1 is not used by an Ackermann car")
    agent_fails(env, ["--drivetrain", "ackermann", "--steering", "pca9685:0"],
                "left_in1 is needed")
    agent_fails(env, [*servo[:-1], "pca9685:16"],
                "PCA9685 channels are pca9685:0 to pca9685:15")
    agent_fails(env, [*servo[:-1], "pca9685:0"],
                "steering and throttle share a PCA9685 channel (0)")
    agent_fails(env, [*servo, "--steering-center-us", "2200"],
                "steering: the middle pulse 2200 us must lie strictly")
    # Differential: two_pin has no enable pin, and no motor half on GPIO.
    two_pin = ["--motor-driver", "two_pin"] + [
        a for i, k in enumerate(("left-in1", "left-in2", "right-in1",
                                 "right-in2"))
        for a in (f"--{k}", f"pca9685:{i}")]
    agent_fails(env, [*two_pin, "--left-en", "pca9685:5"],
                "left_en is not used by a differential car with "
                "motor_driver = two_pin")
    agent_fails(env, [*two_pin[:-1], "GPIO17"],
                "the motors' pins must all be GPIO lines or all PCA9685")


def test_every_kit_of_the_docs_is_a_valid_wiring(env):
    """Each [gpio] example of docs/drivetrains.md passes every check of the
    wiring and stops only at the hardware this machine lacks (no GPIO
    chip, no I2C bus, no PWM chip): what a user copies works."""
    with open(os.path.join(SOURCE_DIR, "docs", "drivetrains.md")) as f:
        blocks = re.findall(r"```ini\n(.*?)```", f.read(), re.S)
    kits = [b for b in blocks if "[gpio]" in b]
    check(len(kits) >= 6, f"the kits of docs/drivetrains.md: {len(kits)}")
    # A chip and a bus that no machine has, even a Pi that runs this.
    nowhere = ["--chip", "/nonexistent/gpiochip99",
               "--pca9685-bus", "/nonexistent/i2c-99"]
    hardware = ("GPIO chip '/nonexistent/gpiochip99' not found",
                "does not exist: enable I2C", "does not exist: enable the PWM")
    for i, kit in enumerate(kits):
        path = os.path.join(env.dir, f"kit{i}.conf")
        with open(path, "w") as f:
            f.write(kit)
        out = subprocess.run([env.agent_bin, "--config", path, *nowhere],
                             capture_output=True, text=True,
                             timeout=DEADLINE_S)
        check(out.returncode == 1 and any(h in out.stderr for h in hardware),
              f"kit {i} stops at missing hardware, not at its wiring "
              f"(exit {out.returncode}): {out.stderr!r}\n{kit}")


if __name__ == "__main__":
    main(globals())

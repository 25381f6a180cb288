// SPDX-License-Identifier: MIT
/*
 * test_safety.c: safety.c — the drive rules of protocol §4 on a fake clock:
 * deadman, link loss, e-stop latch, obstacle stop, speed limit.
 */
#include <errno.h>

#include "safety.h"
#include "test.h"

static const struct safety_config cfg = {
	.ttl_ms = 500,
	.max_ttl_ms = 2000,
	.stop_distance_cm = 25.0,
	.clear_margin_cm = 5.0,
	.estop_guard_ms = 1000,
};

static void outputs(const struct safety *s, int *l, int *r)
{
	struct motor_outputs out;

	safety_outputs(s, &out);
	*l = out.left;
	*r = out.right;
}

static int drive(struct safety *s, int throttle, int steer, int ttl,
		 int64_t now, struct iotcar_error *err)
{
	struct iotcar_drive d = {
		.throttle = throttle, .steer = steer, .ttl_ms = ttl};

	return safety_drive(s, &d, now, err);
}

static void deadman_stops_at_ttl_not_before(void)
{
	struct safety s;
	int l;
	int r;

	safety_init(&s, &cfg, 100);
	CHECK_INT(drive(&s, 60, 0, 0, 1000, NULL), 0);
	CHECK_INT(s.mode, IOTCAR_MODE_DRIVING);
	CHECK_INT(s.deadline_ms, 1501);
	CHECK_INT(safety_expire(&s, 1500), 0);
	outputs(&s, &l, &r);
	CHECK_INT(l, 60);
	CHECK_INT(safety_expire(&s, 1501), SAFETY_EV_FAILSAFE);
	outputs(&s, &l, &r);
	CHECK_INT(l, 0);
	CHECK_INT(r, 0);
	CHECK_INT(s.mode, IOTCAR_MODE_FAILSAFE);
	/* Once stopped, it stays stopped: no second event. */
	CHECK_INT(safety_expire(&s, 5000), 0);
}

static void deadman_renewed_by_each_command(void)
{
	struct safety s;

	safety_init(&s, &cfg, 100);
	for (int64_t t = 0; t < 3000; t += 400) {
		CHECK_INT(safety_expire(&s, t), 0);
		drive(&s, 30, 0, 0, t, NULL);
	}
	CHECK_INT(s.mode, IOTCAR_MODE_DRIVING);
	CHECK_INT(safety_expire(&s, 2800 + 500), 0);
	CHECK_INT(safety_expire(&s, 2800 + 501), SAFETY_EV_FAILSAFE);
}

static void ttl_is_clamped(void)
{
	struct safety s;

	safety_init(&s, &cfg, 100);
	drive(&s, 30, 0, 10, 0, NULL);
	CHECK_INT(s.ttl_ms, SAFETY_MIN_TTL_MS);
	CHECK_INT(s.deadline_ms, SAFETY_MIN_TTL_MS + 1);
	drive(&s, 30, 0, 60000, 0, NULL);
	CHECK_INT(s.ttl_ms, 2000);
	drive(&s, 30, 0, 700, 0, NULL);
	CHECK_INT(s.ttl_ms, 700);
}

static void stop_command_stops_and_disarms(void)
{
	struct safety s;
	int l;
	int r;

	safety_init(&s, &cfg, 100);
	drive(&s, 30, 10, 0, 0, NULL);
	CHECK_INT(drive(&s, 0, 0, 0, 100, NULL), 0);
	outputs(&s, &l, &r);
	CHECK_INT(l, 0);
	CHECK_INT(r, 0);
	CHECK_INT(s.mode, IOTCAR_MODE_IDLE);
	CHECK_INT(s.deadline_ms, 0);
	CHECK_INT(safety_expire(&s, 10000), 0);
}

static void link_loss_stops_at_once(void)
{
	struct safety s;
	int l;
	int r;

	safety_init(&s, &cfg, 100);
	CHECK_INT(safety_link_lost(&s), 0); /* idle: nothing to stop */
	drive(&s, -40, 0, 2000, 0, NULL);
	CHECK_INT(safety_link_lost(&s), SAFETY_EV_FAILSAFE);
	outputs(&s, &l, &r);
	CHECK_INT(l, 0);
	CHECK_INT(r, 0);
	CHECK_INT(s.mode, IOTCAR_MODE_FAILSAFE);
	CHECK_INT(s.deadline_ms, 0);
}

static void estop_latches_until_off(void)
{
	struct iotcar_error err = {0};
	struct safety s;
	int l;
	int r;

	safety_init(&s, &cfg, 100);
	drive(&s, 50, 0, 0, 0, NULL);
	CHECK_INT(safety_latch(&s, 7, 0), SAFETY_EV_ESTOP);
	outputs(&s, &l, &r);
	CHECK_INT(l, 0);
	CHECK_INT(s.mode, IOTCAR_MODE_ESTOP);
	CHECK_INT(s.estop_latch, 7);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(drive(&s, 50, 0, 0, 10, &err), -EPERM);
		CHECK_INT(err.code, IOTCAR_ERR_ESTOP);
	}
	/* Even stop is refused: every drive command while latched. */
	CHECK_INT(drive(&s, 0, 0, 0, 10, &err), -EPERM);
	CHECK_INT(safety_set_distance(&s, true, 10.0), SAFETY_EV_OBSTACLE);
	CHECK_INT(s.mode, IOTCAR_MODE_ESTOP);
	CHECK_INT(safety_release(&s, 7, 20, &err), SAFETY_EV_ESTOP);
	CHECK_INT(s.mode, IOTCAR_MODE_IDLE);
	CHECK_INT(drive(&s, -50, 0, 0, 20, &err), 0);
	/* Nothing latched: a release is no change, and no error. */
	CHECK_INT(safety_release(&s, 0, 30, &err), 0);
}

/* A release never takes effect after a later latch (protocol §4). */
static void estop_release_never_undoes_a_later_latch(void)
{
	struct iotcar_error err = {0};
	struct safety s;

	safety_init(&s, &cfg, 100);
	CHECK_INT(safety_latch(&s, 7, 0), SAFETY_EV_ESTOP);
	/* An ON while latched is a new latch: no event, a new number. */
	CHECK_INT(safety_latch(&s, 8, 5000), 0);
	CHECK_INT(s.estop_latch, 8);
	/* Naming the older latch releases nothing, however late. */
	CHECK_INT(safety_release(&s, 7, 60000, &err), -EPERM);
	CHECK_INT(err.code, IOTCAR_ERR_ESTOP);
	CHECK(s.estop);
	/* A bare OFF within the guard of the latest ON may predate it. */
	CHECK_INT(safety_release(&s, 0, 5999, &err), -EPERM);
	CHECK(s.estop);
	CHECK_INT(safety_release(&s, 0, 6000, &err), SAFETY_EV_ESTOP);
	CHECK(!s.estop);
	/* Naming the latest one releases it at once. */
	CHECK_INT(safety_latch(&s, 9, 7000), SAFETY_EV_ESTOP);
	CHECK_INT(safety_release(&s, 9, 7001, &err), SAFETY_EV_ESTOP);
	CHECK_INT(s.mode, IOTCAR_MODE_IDLE);
}

static void obstacle_blocks_forward_only(void)
{
	struct iotcar_error err = {0};
	struct safety s;
	int l;
	int r;

	safety_init(&s, &cfg, 100);
	drive(&s, 50, 0, 2000, 0, NULL);
	CHECK_INT(safety_set_distance(&s, true, 30.0), 0);
	CHECK_INT(safety_set_distance(&s, true, 24.9), SAFETY_EV_OBSTACLE);
	outputs(&s, &l, &r);
	CHECK_INT(l, 0);
	CHECK_INT(s.mode, IOTCAR_MODE_BLOCKED);
	CHECK(s.obstacle);
	/* Entering is one event, not one per reading. */
	CHECK_INT(safety_set_distance(&s, true, 20.0), 0);
	CHECK_INT(drive(&s, 10, 0, 0, 10, &err), -EPERM);
	CHECK_INT(err.code, IOTCAR_ERR_BLOCKED);
	CHECK_INT(drive(&s, 10, 50, 0, 10, &err), -EPERM);
	CHECK_INT(drive(&s, -50, 0, 0, 10, &err), 0);
	CHECK_INT(drive(&s, 0, -50, 0, 10, &err), 0);
	outputs(&s, &l, &r);
	CHECK_INT(l, -50);
	CHECK_INT(r, 50);
}

static void obstacle_reverse_keeps_driving(void)
{
	struct safety s;
	int l;
	int r;

	safety_init(&s, &cfg, 100);
	drive(&s, -50, 0, 2000, 0, NULL);
	CHECK_INT(safety_set_distance(&s, true, 10.0), SAFETY_EV_OBSTACLE);
	outputs(&s, &l, &r);
	CHECK_INT(l, -50);
	CHECK_INT(s.mode, IOTCAR_MODE_DRIVING);
}

static void obstacle_clears_with_hysteresis(void)
{
	struct safety s;

	safety_init(&s, &cfg, 100);
	safety_set_distance(&s, true, 20.0);
	CHECK(s.obstacle);
	safety_set_distance(&s, true, 28.0);
	CHECK(s.obstacle);
	/* A silent sensor next to a wall must not unblock. */
	safety_set_distance(&s, false, 0.0);
	CHECK(s.obstacle);
	CHECK(!s.has_distance);
	safety_set_distance(&s, true, 30.0);
	CHECK(!s.obstacle);
	CHECK_INT(drive(&s, 40, 0, 0, 0, NULL), 0);
}

static void speed_limit_scales_outputs(void)
{
	struct safety s;
	int l;
	int r;

	safety_init(&s, &cfg, 50);
	drive(&s, 80, 0, 0, 0, NULL);
	outputs(&s, &l, &r);
	CHECK_INT(l, 40);
	CHECK_INT(r, 40);
	safety_set_speed_limit(&s, 25);
	outputs(&s, &l, &r);
	CHECK_INT(l, 20);
	safety_set_speed_limit(&s, 500);
	CHECK_INT(s.speed_limit, 100);
	/* The state keeps the commanded throttle. */
	CHECK_INT(s.throttle, 80);
}

/* The same car with a steering servo. */
static void init_ackermann(struct safety *s, int speed_limit)
{
	struct safety_config ackermann = cfg;

	ackermann.drivetrain = MOTOR_ACKERMANN;
	safety_init(s, &ackermann, speed_limit);
}

/* "left 30" on an Ackermann car: full lock left, forward at 30. */
static void ackermann_turn_moves_at_full_lock(void)
{
	struct iotcar_drive d = {.steer = -30, .turn = true};
	struct motor_outputs out;
	struct safety s;

	init_ackermann(&s, 50);
	CHECK_INT(safety_drive(&s, &d, 0, NULL), 0);
	safety_outputs(&s, &out);
	CHECK_INT(s.throttle, 30);
	CHECK_INT(s.steer, -100);
	/* The limit scales the speed, never the angle. */
	CHECK_INT(out.left, 15);
	CHECK_INT(out.right, 15);
	CHECK_INT(out.steer, -100);
	CHECK(!out.standby);
	/* The same command on a differential car turns in place. */
	safety_init(&s, &cfg, 100);
	CHECK_INT(safety_drive(&s, &d, 0, NULL), 0);
	safety_outputs(&s, &out);
	CHECK_INT(out.left, -30);
	CHECK_INT(out.right, 30);
	CHECK_INT(out.steer, 0);
}

/* Every safety stop centres the steering and sets the throttle neutral,
 * and says standby (a TB6612's STBY goes low). */
static void ackermann_safety_stops_centre_and_stand_by(void)
{
	struct iotcar_error err = {0};
	struct iotcar_drive left = {.steer = -40, .turn = true};
	struct motor_outputs out;
	struct safety s;

	init_ackermann(&s, 100);
	drive(&s, 40, 60, 500, 0, NULL);
	safety_expire(&s, 501);
	safety_outputs(&s, &out);
	CHECK_INT(out.left, 0);
	CHECK_INT(out.steer, 0);
	CHECK(out.standby);
	drive(&s, 40, 60, 500, 1000, NULL);
	safety_latch(&s, 1, 1000);
	safety_outputs(&s, &out);
	CHECK_INT(out.left, 0);
	CHECK_INT(out.steer, 0);
	CHECK(out.standby);
	/* Obstacle: a turn moves forward, so it is refused too. */
	init_ackermann(&s, 100);
	safety_set_distance(&s, true, 10.0);
	CHECK_INT(safety_drive(&s, &left, 0, &err), -EPERM);
	CHECK_INT(err.code, IOTCAR_ERR_BLOCKED);
	safety_outputs(&s, &out);
	CHECK_INT(out.steer, 0);
	CHECK(out.standby);
	/* Backward while steering stays allowed. */
	CHECK_INT(drive(&s, -30, 50, 0, 0, &err), 0);
	safety_outputs(&s, &out);
	CHECK_INT(out.left, -30);
	CHECK_INT(out.steer, 50);
	CHECK(!out.standby);
}

static const struct test_case cases[] = {
	{"ackermann_turn_moves_at_full_lock",
	 ackermann_turn_moves_at_full_lock},
	{"ackermann_safety_stops_centre_and_stand_by",
	 ackermann_safety_stops_centre_and_stand_by},
	{"deadman_stops_at_ttl_not_before", deadman_stops_at_ttl_not_before},
	{"deadman_renewed_by_each_command", deadman_renewed_by_each_command},
	{"ttl_is_clamped", ttl_is_clamped},
	{"stop_command_stops_and_disarms", stop_command_stops_and_disarms},
	{"link_loss_stops_at_once", link_loss_stops_at_once},
	{"estop_latches_until_off", estop_latches_until_off},
	{"estop_release_never_undoes_a_later_latch",
	 estop_release_never_undoes_a_later_latch},
	{"obstacle_blocks_forward_only", obstacle_blocks_forward_only},
	{"obstacle_reverse_keeps_driving", obstacle_reverse_keeps_driving},
	{"obstacle_clears_with_hysteresis", obstacle_clears_with_hysteresis},
	{"speed_limit_scales_outputs", speed_limit_scales_outputs},
};

TEST_MAIN(cases)

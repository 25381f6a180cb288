// SPDX-License-Identifier: MIT
/*
 * test_sim.c: hal_sim_step() — the simulated car's kinematics: straight
 * lines, differential turns in place, and the Ackermann car's bicycle
 * model, whose arc at full lock has the radius wheelbase / tan(angle).
 */
#include <math.h>

#include "hal.h"
#include "test.h"

#define CHECK_NEAR(a, b, tol)                                                  \
	do {                                                                   \
		double a_ = (a), b_ = (b);                                     \
		if (fabs(a_ - b_) > (tol))                                     \
			TEST_FAIL("%s == %.4f, expected %.4f", #a, a_, b_);    \
	} while (0)

static const struct hal_sim_config differential = {
	.drivetrain = MOTOR_DIFFERENTIAL,
	.max_speed_cm_s = 60,
	.track_cm = 14,
};

static const struct hal_sim_config ackermann = {
	.drivetrain = MOTOR_ACKERMANN,
	.max_speed_cm_s = 60,
	.wheelbase_cm = 25,
	.max_steer_deg = 30,
};

static void sim_straight(void)
{
	struct motor_outputs out = {.left = 50, .right = 50, .steer = 0};
	struct hal_pose p = {0};

	hal_sim_step(&ackermann, &out, &p, 2.0);
	CHECK_NEAR(p.x_cm, 60.0, 1e-9);
	CHECK_NEAR(p.y_cm, 0.0, 1e-9);
	CHECK_NEAR(p.heading_deg, 0.0, 1e-9);
	out.left = out.right = -25;
	hal_sim_step(&differential, &out, &p, 2.0);
	CHECK_NEAR(p.x_cm, 30.0, 1e-9);
	CHECK_NEAR(p.odometer_cm, 90.0, 1e-9);
}

/* A differential car's left 50 turns in place: no distance, 360 * v / (pi
 * track) degrees a second to the left. */
static void sim_differential_turns_in_place(void)
{
	struct motor_outputs out = {.left = -50, .right = 50};
	struct hal_pose p = {0};
	double w_deg_s = 2 * 30.0 / 14.0 * 180.0 / M_PI;

	hal_sim_step(&differential, &out, &p, 0.5);
	CHECK_NEAR(p.x_cm, 0.0, 1e-9);
	CHECK_NEAR(p.y_cm, 0.0, 1e-9);
	CHECK_NEAR(p.heading_deg, remainder(w_deg_s * 0.5, 360.0), 1e-9);
}

/* Full lock left at 30 degrees: a circle of radius 25 / tan(30) = 43.3 cm
 * to the left; a quarter of it ends 90 degrees on, R ahead and R left. */
static void sim_bicycle_quarter_circle(void)
{
	struct motor_outputs out = {.left = 50, .right = 50, .steer = -100};
	struct hal_pose p = {0};
	struct hal_pose q;
	double r = 25.0 / tan(30.0 * M_PI / 180.0);
	double quarter_s = M_PI / 2 * r / 30.0;

	hal_sim_step(&ackermann, &out, &p, quarter_s);
	CHECK_NEAR(p.heading_deg, 90.0, 1e-6);
	CHECK_NEAR(p.x_cm, r, 1e-6);
	CHECK_NEAR(p.y_cm, r, 1e-6);
	CHECK_NEAR(p.odometer_cm, M_PI / 2 * r, 1e-6);
	/* Many small steps follow the same arc. */
	q = (struct hal_pose){0};
	for (int i = 0; i < 1000; i++)
		hal_sim_step(&ackermann, &out, &q, quarter_s / 1000);
	CHECK_NEAR(q.x_cm, p.x_cm, 1e-6);
	CHECK_NEAR(q.y_cm, p.y_cm, 1e-6);
	/* Right, half lock, reversing: round a larger circle whose centre is
	 * on the right, backward: the nose swings left. */
	out = (struct motor_outputs){.left = -50, .right = -50, .steer = 50};
	p = (struct hal_pose){0};
	r = 25.0 / tan(15.0 * M_PI / 180.0);
	hal_sim_step(&ackermann, &out, &p, M_PI / 2 * r / 30.0);
	CHECK_NEAR(p.heading_deg, 90.0, 1e-6);
	CHECK_NEAR(p.x_cm, -r, 1e-6);
	CHECK_NEAR(p.y_cm, -r, 1e-6);
}

/* Steering alone moves nothing. */
static void sim_bicycle_steering_alone(void)
{
	struct motor_outputs out = {.steer = 100};
	struct hal_pose p = {0};

	hal_sim_step(&ackermann, &out, &p, 5.0);
	CHECK_NEAR(p.x_cm + p.y_cm + p.heading_deg + p.odometer_cm, 0.0, 0);
}

static const struct test_case cases[] = {
	{"sim_straight", sim_straight},
	{"sim_differential_turns_in_place", sim_differential_turns_in_place},
	{"sim_bicycle_quarter_circle", sim_bicycle_quarter_circle},
	{"sim_bicycle_steering_alone", sim_bicycle_steering_alone},
};

TEST_MAIN(cases)

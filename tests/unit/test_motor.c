// SPDX-License-Identifier: MIT
/*
 * test_motor.c: motor.c — differential mixing and the speed limit, the
 * Ackermann outputs, each motor driver's pin levels, the servo and ESC
 * pulse widths — and pca9685.c's prescaler and counts.
 */
#include <errno.h>

#include "motor.h"
#include "pca9685.h"
#include "test.h"

#define FULL MOTOR_LEVEL_FULL

static const struct {
	int throttle;
	int steer;
	int limit;
	int left;
	int right;
} mix[] = {
	{0, 0, 100, 0, 0},
	{60, -20, 100, 40, 80}, /* the example state of protocol §3 */
	{50, 0, 100, 50, 50},
	{-50, 0, 100, -50, -50},
	{0, -50, 100, -50, 50}, /* left: turn in place */
	{0, 50, 100, 50, -50},
	{100, 50, 100, 100, 33}, /* scaled together, shape kept */
	{-100, -100, 100, -100, 0},
	{100, 100, 100, 100, 0},
	{80, 0, 50, 40, 40},  /* the limit scales the throttle */
	{0, 80, 50, 40, -40}, /* and turning in place */
	{60, -20, 0, 0, 0},
	{33, 0, 50, 17, 17}, /* rounds half away from zero */
	{-33, 0, 50, -17, -17},
	{500, 0, 100, 100, 100}, /* out-of-range input is clamped */
	{0, 0, 250, 0, 0},
};

static void motor_mix_table(void)
{
	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
		int l = 999;
		int r = 999;

		motor_mix(mix[i].throttle, mix[i].steer, mix[i].limit, &l, &r);
		if (l != mix[i].left || r != mix[i].right)
			TEST_FAIL("mix(%d, %d, %d) = %d/%d, expected %d/%d",
				  mix[i].throttle, mix[i].steer, mix[i].limit,
				  l, r, mix[i].left, mix[i].right);
	}
}

static void motor_mix_never_exceeds_100(void)
{
	for (int t = -100; t <= 100; t += 5) {
		for (int s = -100; s <= 100; s += 5) {
			int l;
			int r;

			motor_mix(t, s, 100, &l, &r);
			if (l < -100 || l > 100 || r < -100 || r > 100)
				TEST_FAIL("mix(%d, %d) = %d/%d", t, s, l, r);
		}
	}
}

static void motor_outputs_ackermann(void)
{
	struct motor_outputs o;

	motor_outputs(MOTOR_ACKERMANN, 60, -20, 50, &o);
	CHECK_INT(o.left, 30);
	CHECK_INT(o.right, 30);
	CHECK_INT(o.steer, -20);
	motor_outputs(MOTOR_ACKERMANN, -100, 300, 100, &o);
	CHECK_INT(o.left, -100);
	CHECK_INT(o.steer, 100);
	motor_outputs(MOTOR_DIFFERENTIAL, 60, -20, 100, &o);
	CHECK_INT(o.left, 40);
	CHECK_INT(o.right, 80);
	CHECK_INT(o.steer, 0);
}

static const struct {
	enum motor_driver driver;
	int duty;
	bool brake;
	int in1;
	int in2;
	int en;
} pins[] = {
	/* L298N: direction on IN1/IN2, duty on EN; coast is all low. */
	{MOTOR_L298N, 50, false, FULL, 0, 2048},
	{MOTOR_L298N, -25, false, 0, FULL, 1024},
	{MOTOR_L298N, 100, false, FULL, 0, FULL},
	{MOTOR_L298N, 0, false, 0, 0, 0},
	{MOTOR_L298N, 0, true, FULL, FULL, FULL},
	/* two_pin: the duty on the input of the direction, no enable. */
	{MOTOR_TWO_PIN, 50, false, 2048, 0, 0},
	{MOTOR_TWO_PIN, -75, false, 0, 3072, 0},
	{MOTOR_TWO_PIN, 0, false, 0, 0, 0},
	{MOTOR_TWO_PIN, 0, true, FULL, FULL, 0},
	/* TB6612: as the L298N, but its brake wants PWM low. */
	{MOTOR_TB6612, 50, false, FULL, 0, 2048},
	{MOTOR_TB6612, -100, false, 0, FULL, FULL},
	{MOTOR_TB6612, 0, true, FULL, FULL, 0},
	{MOTOR_TB6612, 0, false, 0, 0, 0},
	/* Out of range is clamped. */
	{MOTOR_TWO_PIN, 250, false, FULL, 0, 0},
	{MOTOR_L298N, 1, false, FULL, 0, 41},
};

static void motor_levels_table(void)
{
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		int l[MOTOR_PINS];

		motor_levels(pins[i].driver, pins[i].duty, pins[i].brake, l);
		if (l[MOTOR_IN1] != pins[i].in1 ||
		    l[MOTOR_IN2] != pins[i].in2 || l[MOTOR_EN] != pins[i].en)
			TEST_FAIL("levels(%d, %d, %d) = %d/%d/%d, expected "
				  "%d/%d/%d",
				  pins[i].driver, pins[i].duty, pins[i].brake,
				  l[MOTOR_IN1], l[MOTOR_IN2], l[MOTOR_EN],
				  pins[i].in1, pins[i].in2, pins[i].en);
	}
}

/* No driver ever drives both inputs high while moving (shoot-through on
 * a two_pin board's bridge is a short). */
static void motor_levels_never_both_inputs_while_moving(void)
{
	for (int drv = MOTOR_L298N; drv <= MOTOR_TB6612; drv++) {
		for (int d = -100; d <= 100; d++) {
			int l[MOTOR_PINS];

			if (d == 0)
				continue;
			motor_levels((enum motor_driver)drv, d, true, l);
			if (l[MOTOR_IN1] && l[MOTOR_IN2])
				TEST_FAIL("driver %d, duty %d: both inputs on",
					  drv, d);
		}
	}
}

static void motor_pulse_calibration(void)
{
	const struct motor_pulse std = {1000, 1500, 2000};
	/* An uneven servo: centre off the middle, reversed. */
	const struct motor_pulse odd = {1900, 1450, 1100};
	char err[200];

	CHECK_INT(motor_pulse_us(&std, 0), 1500);
	CHECK_INT(motor_pulse_us(&std, 100), 2000);
	CHECK_INT(motor_pulse_us(&std, -100), 1000);
	CHECK_INT(motor_pulse_us(&std, 50), 1750);
	CHECK_INT(motor_pulse_us(&std, -30), 1350);
	CHECK_INT(motor_pulse_us(&std, 999), 2000);
	CHECK_INT(motor_pulse_us(&odd, 0), 1450);
	CHECK_INT(motor_pulse_us(&odd, 100), 1100);
	CHECK_INT(motor_pulse_us(&odd, -100), 1900);
	CHECK_INT(motor_pulse_us(&odd, 50), 1275);
	CHECK_INT(motor_pulse_us(&odd, -50), 1675);
	CHECK_INT(motor_pulse_check(&std, "steering", err, sizeof(err)), 0);
	CHECK_INT(motor_pulse_check(&odd, "steering", err, sizeof(err)), 0);
	const struct motor_pulse off_centre = {1000, 2100, 2000};
	const struct motor_pulse flat = {1500, 1500, 2000};
	const struct motor_pulse wide = {400, 1500, 2000};

	CHECK_INT(motor_pulse_check(&off_centre, "steering", err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "strictly between") != NULL);
	CHECK_INT(motor_pulse_check(&flat, "throttle", err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(motor_pulse_check(&wide, "throttle", err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "throttle: a pulse of 400 us") != NULL);
}

/* The datasheet's formula and the figures: PRE_SCALE 121 at 50 Hz;
 * 1.0 and 2.0 ms are 205 and 410 counts; 1.5 ms is 307.4 counts, 307
 * (the chip's real period at 121 is 19.99 ms, not 20). */
static void pca9685_prescale_and_counts(void)
{
	CHECK_INT(pca9685_prescale(50), 121);
	CHECK_INT(pca9685_prescale(60), 101);
	CHECK_INT(pca9685_prescale(1000), 5);
	/* Adafruit's 1600 Hz is past the chip's 1526: the fastest. */
	CHECK_INT(pca9685_prescale(1600), 3);
	CHECK_INT(pca9685_prescale(1), 255);
	CHECK_INT(pca9685_counts(1000, 121), 205);
	CHECK_INT(pca9685_counts(1500, 121), 307);
	CHECK_INT(pca9685_counts(2000, 121), 410);
	CHECK_INT(pca9685_counts(0, 121), 0);
	CHECK_INT(pca9685_counts(100000, 121), 4095);
}

/* The double tap: reverse (a brake), neutral, reverse; forward or 0
 * ends it at once. */
static void motor_esc_double_tap(void)
{
	struct motor_esc esc = {0};
	int64_t wake;

	CHECK_INT(motor_esc_throttle(&esc, 40, 0, &wake), 40);
	CHECK_INT(wake, 0);
	CHECK_INT(motor_esc_throttle(&esc, -30, 1000, &wake), -30);
	CHECK_INT(wake, 1000 + MOTOR_ESC_STEP_MS);
	/* Asked again early: still the brake, the same wake. */
	CHECK_INT(motor_esc_throttle(&esc, -50, 1050, &wake), -50);
	CHECK_INT(wake, 1000 + MOTOR_ESC_STEP_MS);
	CHECK_INT(motor_esc_throttle(&esc, -50, 1100, &wake), 0);
	CHECK_INT(wake, 1100 + MOTOR_ESC_STEP_MS);
	CHECK_INT(motor_esc_throttle(&esc, -50, 1199, &wake), 0);
	CHECK_INT(motor_esc_throttle(&esc, -50, 1200, &wake), -50);
	CHECK_INT(wake, 0);
	/* Reversing goes on as asked, faster or slower. */
	CHECK_INT(motor_esc_throttle(&esc, -80, 1300, &wake), -80);
	/* A stop ends it: the next reverse taps twice again. */
	CHECK_INT(motor_esc_throttle(&esc, 0, 1400, &wake), 0);
	CHECK_INT(wake, 0);
	CHECK_INT(motor_esc_throttle(&esc, -20, 1500, &wake), -20);
	CHECK_INT(wake, 1500 + MOTOR_ESC_STEP_MS);
	/* Forward in the middle of it: forward at once. */
	CHECK_INT(motor_esc_throttle(&esc, 30, 1550, &wake), 30);
	CHECK_INT(wake, 0);
}

static const struct test_case cases[] = {
	{"motor_esc_double_tap", motor_esc_double_tap},
	{"motor_outputs_ackermann", motor_outputs_ackermann},
	{"motor_levels_table", motor_levels_table},
	{"motor_levels_never_both_inputs_while_moving",
	 motor_levels_never_both_inputs_while_moving},
	{"motor_pulse_calibration", motor_pulse_calibration},
	{"pca9685_prescale_and_counts", pca9685_prescale_and_counts},
	{"motor_mix_table", motor_mix_table},
	{"motor_mix_never_exceeds_100", motor_mix_never_exceeds_100},
};

TEST_MAIN(cases)

// SPDX-License-Identifier: MIT
/*
 * motor.c: mixing, motor drivers and pulse widths; see motor.h.
 */
#include "motor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int motor_clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* v * num / den rounded half away from zero, in integers. */
static int motor_scale(int v, int num, int den)
{
	int p = v * num;

	return p >= 0 ? (p + den / 2) / den : -((-p + den / 2) / den);
}

void motor_mix(int throttle, int steer, int speed_limit_pct, int *left,
	       int *right)
{
	int t = motor_clamp(throttle, -100, 100);
	int s = motor_clamp(steer, -100, 100);
	int limit = motor_clamp(speed_limit_pct, 0, 100);
	int l = t + s;
	int r = t - s;
	int peak = abs(l) > abs(r) ? abs(l) : abs(r);

	if (peak > 100) {
		l = motor_scale(l, 100, peak);
		r = motor_scale(r, 100, peak);
	}
	*left = motor_scale(l, limit, 100);
	*right = motor_scale(r, limit, 100);
}

void motor_outputs(enum motor_drivetrain drivetrain, int throttle, int steer,
		   int speed_limit_pct, struct motor_outputs *out)
{
	*out = (struct motor_outputs){0};
	if (drivetrain == MOTOR_DIFFERENTIAL) {
		motor_mix(throttle, steer, speed_limit_pct, &out->left,
			  &out->right);
		return;
	}
	out->left = motor_scale(motor_clamp(throttle, -100, 100),
				motor_clamp(speed_limit_pct, 0, 100), 100);
	out->right = out->left;
	out->steer = motor_clamp(steer, -100, 100);
}

void motor_levels(enum motor_driver driver, int duty, bool brake,
		  int level[MOTOR_PINS])
{
	int d = motor_clamp(duty, -100, 100);
	int pwm = motor_scale(abs(d), MOTOR_LEVEL_FULL, 100);

	level[MOTOR_IN1] = 0;
	level[MOTOR_IN2] = 0;
	level[MOTOR_EN] = 0;
	if (d == 0) {
		if (!brake)
			return;
		/* Both inputs high shorts the motor on each of them. */
		level[MOTOR_IN1] = MOTOR_LEVEL_FULL;
		level[MOTOR_IN2] = MOTOR_LEVEL_FULL;
		/* The L298N brakes only while enabled. */
		if (driver == MOTOR_L298N)
			level[MOTOR_EN] = MOTOR_LEVEL_FULL;
		return;
	}
	if (driver == MOTOR_TWO_PIN) {
		level[d > 0 ? MOTOR_IN1 : MOTOR_IN2] = pwm;
		return;
	}
	level[d > 0 ? MOTOR_IN1 : MOTOR_IN2] = MOTOR_LEVEL_FULL;
	level[MOTOR_EN] = pwm;
}

int motor_pulse_us(const struct motor_pulse *cal, int pct)
{
	int p = motor_clamp(pct, -100, 100);
	int end = p >= 0 ? cal->pos_us : cal->neg_us;

	return cal->mid_us + motor_scale(end - cal->mid_us, abs(p), 100);
}

int motor_pulse_check(const struct motor_pulse *cal, const char *what,
		      char *err, size_t errlen)
{
	const int us[3] = {cal->neg_us, cal->mid_us, cal->pos_us};

	for (int i = 0; i < 3; i++) {
		if (us[i] < 500 || us[i] > 2500) {
			snprintf(err, errlen,
				 "%s: a pulse of %d us is outside 500..2500 "
				 "(servos and ESCs take 1000..2000)",
				 what, us[i]);
			return -EINVAL;
		}
	}
	if ((cal->mid_us - cal->neg_us > 0) !=
		    (cal->pos_us - cal->mid_us > 0) ||
	    cal->mid_us == cal->neg_us || cal->mid_us == cal->pos_us) {
		snprintf(err, errlen,
			 "%s: the middle pulse %d us must lie strictly between "
			 "%d and %d us",
			 what, cal->mid_us, cal->neg_us, cal->pos_us);
		return -EINVAL;
	}
	return 0;
}

int motor_esc_throttle(struct motor_esc *esc, int throttle, int64_t now_ms,
		       int64_t *wake_ms)
{
	*wake_ms = 0;
	if (throttle >= 0) {
		esc->phase = MOTOR_ESC_AHEAD;
		return throttle;
	}
	if (esc->phase == MOTOR_ESC_AHEAD) {
		esc->phase = MOTOR_ESC_BRAKE;
		esc->until_ms = now_ms + MOTOR_ESC_STEP_MS;
	} else if (esc->phase == MOTOR_ESC_BRAKE && now_ms >= esc->until_ms) {
		esc->phase = MOTOR_ESC_NEUTRAL;
		esc->until_ms = now_ms + MOTOR_ESC_STEP_MS;
	} else if (esc->phase == MOTOR_ESC_NEUTRAL && now_ms >= esc->until_ms) {
		esc->phase = MOTOR_ESC_REVERSE;
	}
	if (esc->phase == MOTOR_ESC_REVERSE)
		return throttle;
	*wake_ms = esc->until_ms;
	return esc->phase == MOTOR_ESC_BRAKE ? throttle : 0;
}

// SPDX-License-Identifier: MIT
/*
 * motor.c: differential-drive mixing; see motor.h.
 */
#include "motor.h"

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

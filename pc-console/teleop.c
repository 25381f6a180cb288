// SPDX-License-Identifier: MIT
/*
 * teleop.c: the setpoint and the streaming rule; see teleop.h.
 */
#include "teleop.h"

#include <stdlib.h>

void teleop_init(struct teleop *t, int step, int ttl_ms, int rate_hz)
{
	*t = (struct teleop){
		.step = step,
		.ttl_ms = ttl_ms,
		.period_ms = 1000 / (rate_hz > 0 ? rate_hz : 1),
	};
}

static int teleop_clamp(int v)
{
	return v > 100 ? 100 : v < -100 ? -100 : v;
}

bool teleop_set(struct teleop *t, int throttle, int steer)
{
	throttle = teleop_clamp(throttle);
	steer = teleop_clamp(steer);
	if (throttle == t->throttle && steer == t->steer)
		return false;
	t->throttle = throttle;
	t->steer = steer;
	t->dirty = true;
	return true;
}

bool teleop_apply(struct teleop *t, enum keymap_action a)
{
	switch (a) {
	case KEYMAP_THROTTLE_UP:
		return teleop_set(t, t->throttle + t->step, t->steer);
	case KEYMAP_THROTTLE_DOWN:
		return teleop_set(t, t->throttle - t->step, t->steer);
	case KEYMAP_STEER_LEFT:
		return teleop_set(t, t->throttle, t->steer - t->step);
	case KEYMAP_STEER_RIGHT:
		return teleop_set(t, t->throttle, t->steer + t->step);
	case KEYMAP_STOP:
		/* Space always sends a stop, even when already at zero: the
		 * driver asked for one and gets it confirmed. */
		teleop_set(t, 0, 0);
		t->dirty = true;
		return true;
	default:
		return false;
	}
}

bool teleop_is_driving(const struct teleop *t)
{
	return t->throttle || t->steer;
}

bool teleop_due(struct teleop *t, int64_t now_ms, struct iotcar_drive *d)
{
	if (!t->dirty && !(teleop_is_driving(t) && now_ms >= t->next_ms))
		return false;
	t->dirty = false;
	t->next_ms = now_ms + t->period_ms;
	*d = (struct iotcar_drive){
		.throttle = t->throttle,
		.steer = t->steer,
		.ttl_ms = t->ttl_ms,
	};
	return true;
}

int64_t teleop_wake_ms(const struct teleop *t)
{
	if (t->dirty)
		return 0;
	return teleop_is_driving(t) ? t->next_ms : -1;
}

void teleop_rtt_add(struct teleop_rtt *r, int64_t now_ms, int64_t us)
{
	r->at_ms[r->head] = now_ms;
	r->us[r->head] = us;
	r->head = (r->head + 1) % TELEOP_RTT_MAX;
	if (r->count < TELEOP_RTT_MAX)
		r->count++;
}

static int teleop_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a;
	int64_t y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int64_t teleop_rtt_p50(const struct teleop_rtt *r, int64_t now_ms,
		       int64_t window_ms, size_t *n)
{
	int64_t v[TELEOP_RTT_MAX];
	size_t k = 0;

	for (size_t i = 0; i < r->count; i++) {
		size_t at = (r->head + TELEOP_RTT_MAX - 1 - i) % TELEOP_RTT_MAX;

		if (now_ms - r->at_ms[at] > window_ms)
			break;
		v[k++] = r->us[at];
	}
	*n = k;
	if (!k)
		return -1;
	qsort(v, k, sizeof(v[0]), teleop_cmp);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

int teleop_axis_pct(int value, int dead_pct)
{
	int pct;

	if (value > 32767)
		value = 32767;
	if (value < -32767)
		value = -32767;
	pct = value * 100 / 32767;
	if (abs(pct) <= dead_pct)
		return 0;
	/* Rescale what is past the dead zone to the whole range. */
	return (pct > 0 ? pct - dead_pct : pct + dead_pct) * 100 /
	       (100 - dead_pct);
}

// SPDX-License-Identifier: MIT
/*
 * safety.c: the drive rules of protocol §4; see safety.h. Every path that can
 * move a wheel goes through safety_drive(), and every other entry point can
 * only stop the car.
 */
#include "safety.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "motor.h"

void safety_init(struct safety *s, const struct safety_config *cfg,
		 int speed_limit)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->mode = IOTCAR_MODE_IDLE;
	safety_set_speed_limit(s, speed_limit);
}

/* Stop the wheels; the caller sets the mode that says why. */
static void safety_halt(struct safety *s)
{
	s->throttle = 0;
	s->steer = 0;
	s->ttl_ms = 0;
	s->deadline_ms = 0;
}

static bool safety_is_moving(const struct safety *s)
{
	return s->throttle || s->steer;
}

static int safety_ttl(const struct safety *s, int asked_ms)
{
	int ttl = asked_ms ? asked_ms : s->cfg.ttl_ms;

	if (ttl < SAFETY_MIN_TTL_MS)
		ttl = SAFETY_MIN_TTL_MS;
	if (ttl > s->cfg.max_ttl_ms)
		ttl = s->cfg.max_ttl_ms;
	return ttl;
}

int safety_drive(struct safety *s, const struct iotcar_drive *cmd,
		 int64_t now_ms, struct iotcar_error *err)
{
	struct iotcar_drive turn = *cmd;
	const struct iotcar_drive *d = cmd;

	/* An Ackermann car cannot turn in place: left/right turn at full
	 * lock while moving forward at their speed. */
	if (s->cfg.drivetrain == MOTOR_ACKERMANN && cmd->turn) {
		turn.throttle = abs(cmd->steer);
		turn.steer = cmd->steer < 0 ? -100 : cmd->steer > 0 ? 100 : 0;
		d = &turn;
	}
	if (s->estop) {
		iotcar_error_set(err, IOTCAR_ERR_ESTOP,
				 "the e-stop is latched; publish OFF to "
				 "set/estop to drive again");
		return -EPERM;
	}
	if (d->throttle == 0 && d->steer == 0) {
		safety_halt(s);
		s->mode = IOTCAR_MODE_IDLE;
		return 0;
	}
	if (d->throttle > 0 && s->obstacle) {
		safety_halt(s);
		s->mode = IOTCAR_MODE_BLOCKED;
		iotcar_error_set(err, IOTCAR_ERR_BLOCKED,
				 "obstacle at %.1f cm (stop distance %.0f cm): "
				 "only backward%s is allowed",
				 s->distance_cm, s->cfg.stop_distance_cm,
				 s->cfg.drivetrain == MOTOR_DIFFERENTIAL
					 ? " and turning in place"
					 : "");
		return -EPERM;
	}
	s->throttle = d->throttle;
	s->steer = d->steer;
	s->ttl_ms = safety_ttl(s, d->ttl_ms);
	/* now_ms is rounded down to the ms: one more so it never ends early. */
	s->deadline_ms = now_ms + s->ttl_ms + 1;
	s->mode = IOTCAR_MODE_DRIVING;
	return 0;
}

unsigned safety_expire(struct safety *s, int64_t now_ms)
{
	if (!s->deadline_ms || now_ms < s->deadline_ms)
		return 0;
	safety_halt(s);
	s->mode = IOTCAR_MODE_FAILSAFE;
	return SAFETY_EV_FAILSAFE;
}

unsigned safety_link_lost(struct safety *s)
{
	if (!safety_is_moving(s))
		return 0;
	safety_halt(s);
	s->mode = IOTCAR_MODE_FAILSAFE;
	return SAFETY_EV_FAILSAFE;
}

unsigned safety_latch(struct safety *s, uint32_t latch, int64_t now_ms)
{
	bool was = s->estop;

	s->estop = true;
	s->estop_latch = latch;
	s->estop_ms = now_ms;
	safety_halt(s);
	s->mode = IOTCAR_MODE_ESTOP;
	return was ? 0 : SAFETY_EV_ESTOP;
}

int safety_release(struct safety *s, uint32_t latch, int64_t now_ms,
		   struct iotcar_error *err)
{
	int64_t age = now_ms - s->estop_ms;

	if (!s->estop)
		return 0;
	if (latch && latch != s->estop_latch) {
		iotcar_error_set(err, IOTCAR_ERR_ESTOP,
				 "latch %u is not the one holding (%u, latched "
				 "%lld ms ago): release that one",
				 (unsigned)latch, (unsigned)s->estop_latch,
				 (long long)age);
		return -EPERM;
	}
	if (!latch && age < s->cfg.estop_guard_ms) {
		iotcar_error_set(err, IOTCAR_ERR_ESTOP,
				 "latched %lld ms ago: a bare OFF this soon "
				 "may be older than the ON; send OFF %u, or "
				 "OFF again after %d ms",
				 (long long)age, (unsigned)s->estop_latch,
				 s->cfg.estop_guard_ms);
		return -EPERM;
	}
	s->estop = false;
	safety_halt(s);
	s->mode = IOTCAR_MODE_IDLE;
	return SAFETY_EV_ESTOP;
}

void safety_set_speed_limit(struct safety *s, int pct)
{
	s->speed_limit = pct < 0 ? 0 : pct > 100 ? 100 : pct;
}

unsigned safety_set_distance(struct safety *s, bool valid, double cm)
{
	s->has_distance = valid;
	if (!valid)
		return 0;
	s->distance_cm = cm;
	if (s->obstacle &&
	    cm >= s->cfg.stop_distance_cm + s->cfg.clear_margin_cm) {
		s->obstacle = false;
		if (s->mode == IOTCAR_MODE_BLOCKED)
			s->mode = IOTCAR_MODE_IDLE;
		return 0;
	}
	if (s->obstacle || cm >= s->cfg.stop_distance_cm)
		return 0;
	s->obstacle = true;
	if (s->throttle > 0 && !s->estop) {
		safety_halt(s);
		s->mode = IOTCAR_MODE_BLOCKED;
	}
	return SAFETY_EV_OBSTACLE;
}

void safety_stop(struct safety *s)
{
	safety_halt(s);
	if (!s->estop)
		s->mode = IOTCAR_MODE_IDLE;
}

void safety_outputs(const struct safety *s, struct motor_outputs *out)
{
	motor_outputs(s->cfg.drivetrain, s->throttle, s->steer, s->speed_limit,
		      out);
	out->standby = s->mode == IOTCAR_MODE_FAILSAFE ||
		       s->mode == IOTCAR_MODE_BLOCKED ||
		       s->mode == IOTCAR_MODE_ESTOP;
}

/* SPDX-License-Identifier: MIT */
/*
 * teleop.h: the driver's setpoint and when to send it (the model of ROS's
 * teleop_twist_keyboard). A terminal sends no key-up, so a key press moves
 * the setpoint one step and the setpoint holds. While it is not zero it is
 * sent again at a fixed rate, each command living a short TTL: when the
 * console dies the commands stop, and the car stops by itself within its
 * TTL. A change is sent at once; a return to zero is sent once (the stop).
 *
 * Context: the console's loop thread; no I/O here, so the unit tests
 * drive it with a made-up clock.
 */
#ifndef TELEOP_H
#define TELEOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iotcar/payload.h"
#include "keymap.h"

struct teleop {
	/* The setpoint, -100..100 each. */
	int throttle;
	int steer;
	int step;
	int ttl_ms;
	int period_ms;
	/* The setpoint changed since it was last sent. */
	bool dirty;
	/* When a non-zero setpoint is due again. */
	int64_t next_ms;
};

/** @brief Zero setpoint; keys move it by @p step; resend at @p rate_hz. */
void teleop_init(struct teleop *t, int step, int ttl_ms, int rate_hz);

/**
 * @brief Apply a throttle, steer or stop key.
 * @return True when the setpoint changed (other actions: false).
 */
bool teleop_apply(struct teleop *t, enum keymap_action a);

/**
 * @brief Set the setpoint outright (a gamepad's sticks), clamped.
 * @return True when it changed.
 */
bool teleop_set(struct teleop *t, int throttle, int steer);

/** @brief True while the setpoint is not zero (the car is being driven). */
bool teleop_is_driving(const struct teleop *t);

/**
 * @brief Is a command due at @p now_ms? If so fill @p d (the setpoint and
 * the TTL) and note it as sent.
 */
bool teleop_due(struct teleop *t, int64_t now_ms, struct iotcar_drive *d);

/**
 * @brief When teleop_due() will next say yes without a new key: the next
 * repeat while driving, or -1 when nothing is due.
 */
int64_t teleop_wake_ms(const struct teleop *t);

/** Command round-trip times, kept for a window of seconds. */
#define TELEOP_RTT_MAX 256

struct teleop_rtt {
	int64_t at_ms[TELEOP_RTT_MAX];
	int64_t us[TELEOP_RTT_MAX];
	size_t head;
	size_t count;
};

/** @brief Remember one round trip of @p us microseconds at @p now_ms. */
void teleop_rtt_add(struct teleop_rtt *r, int64_t now_ms, int64_t us);

/**
 * @brief The median of the round trips of the last @p window_ms.
 * @return Microseconds, or -1 when there were none; @p n gets how many.
 */
int64_t teleop_rtt_p50(const struct teleop_rtt *r, int64_t now_ms,
		       int64_t window_ms, size_t *n);

/**
 * @brief A gamepad axis (-32767..32767) as a percentage, with a dead zone
 * of @p dead_pct around the centre so a stick at rest is exactly 0.
 */
int teleop_axis_pct(int value, int dead_pct);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * safety.h: the drive rules of protocol §4 — deadman, link loss, e-stop latch,
 * obstacle stop, speed limit — as a pure state machine. Time comes in as an
 * argument, so the unit tests drive it with a fake clock; the agent feeds it
 * commands, sensor readings and timer expiries and applies its outputs.
 */
#ifndef SAFETY_H
#define SAFETY_H

#include <stdbool.h>
#include <stdint.h>

#include "iotcar/payload.h"
#include "motor.h"

/** Shortest TTL a command may ask for (protocol §4). */
#define SAFETY_MIN_TTL_MS 50

struct safety_config {
	/* TTL of a drive command that gives none. */
	int ttl_ms;
	/* Longest TTL a command may ask for. */
	int max_ttl_ms;
	/* Forward motion is refused below this distance. */
	double stop_distance_cm;
	/* The obstacle clears at stop_distance_cm + this (hysteresis). */
	double clear_margin_cm;
	/* A bare OFF this soon after the latest latch is refused. */
	int estop_guard_ms;
	/* Ackermann: left/right texts turn while moving. */
	enum motor_drivetrain drivetrain;
};

/** What safety_*() changed that the world should hear about. */
enum {
	SAFETY_EV_FAILSAFE = 1 << 0,
	SAFETY_EV_OBSTACLE = 1 << 1,
	SAFETY_EV_ESTOP = 1 << 2,
};

struct safety {
	struct safety_config cfg;
	enum iotcar_mode mode;
	bool estop;
	/* The latest latch's number (0: none yet) and when it was made. */
	uint32_t estop_latch;
	int64_t estop_ms;
	bool obstacle;
	bool has_distance;
	double distance_cm;
	/* The setpoint being applied; 0/0 when stopped. */
	int throttle;
	int steer;
	/* TTL of the command being applied; 0 when stopped. */
	int ttl_ms;
	int speed_limit;
	/* When the current command dies; 0 when nothing is armed. */
	int64_t deadline_ms;
};

/** @brief Start stopped and idle, with @p speed_limit (0..100). */
void safety_init(struct safety *s, const struct safety_config *cfg,
		 int speed_limit);

/**
 * @brief Apply a drive command received at @p now_ms.
 * @return 0; or -EPERM with @p err set to estop or blocked, in which case
 * the car is (left) stopped.
 */
int safety_drive(struct safety *s, const struct iotcar_drive *d, int64_t now_ms,
		 struct iotcar_error *err);

/**
 * @brief The deadman: stop when the current command's TTL has run out.
 * @return SAFETY_EV_FAILSAFE if this call stopped the car, else 0.
 */
unsigned safety_expire(struct safety *s, int64_t now_ms);

/**
 * @brief The MQTT link is gone: stop at once.
 * @return SAFETY_EV_FAILSAFE if the car was driving, else 0.
 */
unsigned safety_link_lost(struct safety *s);

/**
 * @brief Latch the e-stop (ON) as latch number @p latch, new for every ON
 * (an ON while latched makes a new latch too) at @p now_ms.
 * @return SAFETY_EV_ESTOP when it was released before.
 */
unsigned safety_latch(struct safety *s, uint32_t latch, int64_t now_ms);

/**
 * @brief Release the e-stop (OFF) received at @p now_ms. A release that
 * names its latch (@p latch, 0 for none) releases that latch only: a later
 * one holds. A bare OFF releases only a latch older than estop_guard_ms,
 * because an OFF sent before the latest ON can arrive after it (a QoS 0
 * ON overtakes a QoS 1 OFF in the broker) and nothing tells them apart.
 * @return SAFETY_EV_ESTOP when released, 0 when nothing was latched, or
 * -EPERM with @p err set (IOTCAR_ERR_ESTOP) when the latch holds.
 */
int safety_release(struct safety *s, uint32_t latch, int64_t now_ms,
		   struct iotcar_error *err);

/** @brief Set the speed limit, 0..100 (clamped). */
void safety_set_speed_limit(struct safety *s, int pct);

/**
 * @brief A new distance reading (@p valid false: no echo / out of range).
 * An invalid reading keeps the obstacle state: a sensor that falls silent
 * next to a wall must not unblock forward motion.
 * @return SAFETY_EV_OBSTACLE when the obstacle state was entered.
 */
unsigned safety_set_distance(struct safety *s, bool valid, double cm);

/** @brief Stop, whatever the state (shutdown, hardware fault). */
void safety_stop(struct safety *s);

/**
 * @brief The outputs to apply now (motor.h); standby while a safety rule
 * holds the car (failsafe, blocked, e-stop).
 */
void safety_outputs(const struct safety *s, struct motor_outputs *out);

#endif

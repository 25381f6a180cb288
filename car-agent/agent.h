/* SPDX-License-Identifier: MIT */
/*
 * agent.h: the car agent — MQTT commands in, through the safety rules, to
 * the hardware layer; state, telemetry, results and events out (protocol §2-4).
 * main.c only wires it up; the integration tests run it as a process.
 *
 * Context: every function runs on the loop's thread.
 */
#ifndef AGENT_H
#define AGENT_H

#include "hal.h"
#include "iotcar/loop.h"
#include "iotcar/mqtt.h"
#include "settings.h"

struct agent;

/**
 * @brief Create the agent. @p settings and @p hal are borrowed and must
 * outlive it; @p mqtt_opts is copied.
 * @return The agent (free with agent_free()), or NULL with errno.
 */
struct agent *agent_new(struct iotcar_loop *loop,
			const struct agent_settings *settings, struct hal *hal,
			const struct iotcar_mqtt_opts *mqtt_opts);

/** @brief Start connecting and sensing. @return 0 or a negative errno. */
int agent_start(struct agent *a);

/**
 * @brief Shut down: motors off, `offline` and the final state published,
 * disconnect, and stop the loop. Safe to call twice.
 */
void agent_stop(struct agent *a);

/** @brief 0 after a clean stop, 1 after a hardware fault. */
int agent_exit_code(const struct agent *a);

/** @brief Free the agent (stopping it first). Accepts NULL. */
void agent_free(struct agent *a);

#endif

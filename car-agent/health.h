/* SPDX-License-Identifier: MIT */
/*
 * health.h: what the Pi can tell about itself for telemetry — Wi-Fi signal,
 * CPU temperature, the agent's memory — read from /proc and /sys. Each value
 * is simply absent where the machine has no such thing.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include "iotcar/payload.h"

/** @brief Fill the health fields (rssi, cpu_temp, rss_kb) of @p t. */
void health_read(struct iotcar_telemetry *t);

#endif

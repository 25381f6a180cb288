/* SPDX-License-Identifier: MIT */
/*
 * service.h: what a program tells systemd about itself (sd_notify), when
 * it runs as a Type=notify unit: that it is ready, that its loop still
 * turns (the watchdog of WatchdogSec=) and that it is stopping. Outside
 * systemd (no $NOTIFY_SOCKET) every call does nothing.
 *
 * Context: the loop's own thread.
 */
#ifndef IOTCAR_SERVICE_H
#define IOTCAR_SERVICE_H

struct iotcar_loop;
struct iotcar_service;

/**
 * @brief Say READY=1 and, when the unit has a watchdog, say WATCHDOG=1
 * from @p loop every quarter of its period: if the loop stalls, systemd
 * kills the program.
 * @return The service, or NULL with errno set. Free with
 * iotcar_service_free().
 */
struct iotcar_service *iotcar_service_start(struct iotcar_loop *loop);

/**
 * @brief Say STOPPING=1; the pings go on until the program exits.
 * Accepts NULL.
 */
void iotcar_service_stopping(struct iotcar_service *svc);

/** @brief Free the service. Accepts NULL. */
void iotcar_service_free(struct iotcar_service *svc);

#endif

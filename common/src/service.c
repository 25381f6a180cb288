// SPDX-License-Identifier: MIT
/*
 * service.c: service.h on libsystemd's sd_notify(3) and
 * sd_watchdog_enabled(3).
 */
#include "iotcar/service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "iotcar/log.h"
#include "iotcar/loop.h"

struct iotcar_service {
	struct iotcar_timer *ping;
	int watchdog_ms;
};

static void service_ping(void *ctx)
{
	(void)ctx;
	sd_notify(0, "WATCHDOG=1");
}

struct iotcar_service *iotcar_service_start(struct iotcar_loop *loop)
{
	struct iotcar_service *svc = calloc(1, sizeof(*svc));
	uint64_t usec = 0;
	int ret;

	if (!svc)
		return NULL;
	ret = sd_watchdog_enabled(0, &usec);
	if (ret < 0)
		log_warning("systemd: bad $WATCHDOG_USEC: %s", strerror(-ret));
	if (ret > 0 && usec < 4000)
		log_warning("systemd: a watchdog of %llu us is too short to "
			    "ping: not pinged",
			    (unsigned long long)usec);
	if (ret > 0 && usec >= 4000) {
		svc->watchdog_ms = (int)(usec / 1000);
		svc->ping = iotcar_timer_new(loop, service_ping, svc);
		if (!svc->ping) {
			free(svc);
			return NULL;
		}
		iotcar_timer_start(svc->ping, svc->watchdog_ms / 4,
				   svc->watchdog_ms / 4);
		log_info("systemd: watchdog %d ms, pinged every %d ms",
			 svc->watchdog_ms, svc->watchdog_ms / 4);
	}
	sd_notify(0, "READY=1");
	return svc;
}

void iotcar_service_stopping(struct iotcar_service *svc)
{
	if (svc)
		sd_notify(0, "STOPPING=1");
}

void iotcar_service_free(struct iotcar_service *svc)
{
	if (!svc)
		return;
	iotcar_timer_free(svc->ping);
	free(svc);
}

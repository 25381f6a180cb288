/* SPDX-License-Identifier: MIT */
/*
 * discovery.h: Home Assistant MQTT discovery for one car — the config
 * messages that make the car appear in Home Assistant (and openHAB,
 * Domoticz, ...) by itself. Pure: it builds topics and payloads and hands
 * them to a callback; the agent publishes them retained at QoS 1.
 *
 * Two formats: one config per entity,
 * <ha>/<component>/iotcar_<car>/<entity>/config (the default, read by
 * everything), or one device config, <ha>/device/iotcar_<car>/config (Home
 * Assistant 2024.12 and later).
 */
#ifndef DISCOVERY_H
#define DISCOVERY_H

#include <stddef.h>

enum discovery_mode {
	DISCOVERY_OFF,
	DISCOVERY_ENTITY,
	DISCOVERY_DEVICE,
};

struct discovery_car {
	/* The project's topic prefix ("iotcar") and the car's id. */
	const char *prefix;
	const char *id;
	/* Home Assistant's discovery prefix ("homeassistant"). */
	const char *ha_prefix;
	/* The hardware layer's name, shown as the device's model. */
	const char *hal;
	/* Telemetry period: its sensors expire after three. */
	int telemetry_ms;
	/* The device's link in Home Assistant (the dashboard), or NULL. */
	const char *configuration_url;
};

/* Called once per message; @p payload is empty (len 0) to remove one. */
typedef void (*discovery_emit_fn)(void *ctx, const char *topic,
				  const char *payload, size_t len);

/** @brief "off", "entity" or "device" to the mode; -EINVAL otherwise. */
int discovery_mode_parse(const char *s, enum discovery_mode *mode);

/**
 * @brief Every config of @p mode, then an empty payload for every topic of
 * the other format, so that switching formats leaves no duplicate.
 * @return 0, or a negative errno (nothing more is emitted after it).
 */
int discovery_announce(const struct discovery_car *car,
		       enum discovery_mode mode, discovery_emit_fn emit,
		       void *ctx);

/**
 * @brief An empty payload for every config topic this program has ever
 * published for the car, in either format, and for the car's retained
 * status and state: nothing of the car is left on the broker.
 */
int discovery_cleanup(const struct discovery_car *car, discovery_emit_fn emit,
		      void *ctx);

/**
 * @brief The device's configuration_url from the ha_dashboard_url setting
 * @p url: "auto" is the web dashboard on the host of @p broker (the
 * production one, https://HOST:8443/?car=ID; the demo's,
 * http://HOST:9001/?car=ID, for a loopback broker), "none" is none (an
 * empty @p buf), anything else is taken as it is.
 * @return 0, or -ENAMETOOLONG.
 */
int discovery_dashboard_url(const char *url, const char *broker, const char *id,
			    char *buf, size_t size);

/** @brief "<ha>/status", where Home Assistant says it is (back) online. */
int discovery_status_topic(const struct discovery_car *car, char *buf,
			   size_t size);

#endif

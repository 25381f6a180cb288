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
 * published for the car, in either format.
 */
int discovery_cleanup(const struct discovery_car *car, discovery_emit_fn emit,
		      void *ctx);

/** @brief "<ha>/status", where Home Assistant says it is (back) online. */
int discovery_status_topic(const struct discovery_car *car, char *buf,
			   size_t size);

#endif

// SPDX-License-Identifier: MIT
/*
 * discovery.c: Home Assistant MQTT discovery; see discovery.h.
 *
 * One table says what the car offers Home Assistant. Every entity reads a
 * topic of protocol §2 with a template no more than {{ value_json.x }} (the
 * state's values are already in Home Assistant's vocabulary: ON/OFF,
 * numbers, null for unknown) or commands one with a plain payload; the
 * car's status topic is every entity's availability. Keys are spelt out
 * (not abbreviated), topics are whole (no "~"), and default_entity_id
 * replaces the deprecated object_id.
 */
#include "discovery.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/topic.h"

#define DISCOVERY_TOPIC_MAX 256

enum entity_kind {
	ENTITY_BUTTON,
	ENTITY_NUMBER,
	ENTITY_SWITCH,
	ENTITY_BINARY_SENSOR,
	ENTITY_SENSOR,
	ENTITY_EVENT,
};

static const char *const entity_components[] = {
	[ENTITY_BUTTON] = "button", [ENTITY_NUMBER] = "number",
	[ENTITY_SWITCH] = "switch", [ENTITY_BINARY_SENSOR] = "binary_sensor",
	[ENTITY_SENSOR] = "sensor", [ENTITY_EVENT] = "event",
};

struct entity {
	enum entity_kind kind;
	/* The entity's id within the car: unique_id iotcar_<car>_<object>. */
	const char *object;
	const char *name;
	const char *icon;
	/* Buttons, number, switch: the topic commanded, and how. */
	bool commands;
	enum iotcar_topic_kind command;
	const char *press;
	/* What the value becomes on command_topic, when not the value. */
	const char *command_template;
	int qos;
	/* Sensors, number, switch, event: the topic read. */
	bool reads;
	enum iotcar_topic_kind state;
	/* The key of the JSON read; NULL for the event (its event_type). */
	const char *value;
	const char *device_class;
	const char *state_class;
	const char *unit;
	/* "diagnostic" or NULL. */
	const char *category;
	/* Only the simulated car has it (its pose: the odometer). */
	bool sim_only;
};

/* clang-format 14 (Debian 12) and 19 (Debian 13) lay this out apart. */
/* clang-format off */
#define BUTTON(obj, nm, ic, payload, q)                                        \
	{                                                                      \
		.kind = ENTITY_BUTTON, .object = obj, .name = nm, .icon = ic,  \
		.commands = true, .command = IOTCAR_TOPIC_SET_DRIVE,           \
		.press = payload, .qos = q                                     \
	}
/* clang-format on */

static const struct entity entities[] = {
	/* A press drives for the car's TTL (500 ms): a nudge, never runaway,
	 * at the car's speed (the Speed number below). */
	BUTTON("forward", "Forward", "mdi:arrow-up-bold", "forward", 0),
	BUTTON("backward", "Backward", "mdi:arrow-down-bold", "backward", 0),
	BUTTON("left", "Left", "mdi:rotate-left", "left", 0),
	BUTTON("right", "Right", "mdi:rotate-right", "right", 0),
	BUTTON("stop", "Stop", "mdi:stop", "stop", 1),
	{.kind = ENTITY_NUMBER,
	 .object = "speed_limit",
	 .name = "Speed limit",
	 .icon = "mdi:speedometer",
	 .commands = true,
	 .command = IOTCAR_TOPIC_SET_SPEED_LIMIT,
	 .qos = 1,
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "speed_limit",
	 .unit = "%"},
	/* The speed of a bare "forward" ...: the buttons' speed. */
	{.kind = ENTITY_NUMBER,
	 .object = "speed",
	 .name = "Speed",
	 .icon = "mdi:speedometer-medium",
	 .commands = true,
	 .command = IOTCAR_TOPIC_SET,
	 .command_template = "{\"speed\": {{ value | int }}}",
	 .qos = 1,
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "speed",
	 .unit = "%"},
	{.kind = ENTITY_SWITCH,
	 .object = "estop",
	 .name = "E-stop",
	 .icon = "mdi:car-brake-alert",
	 .commands = true,
	 .command = IOTCAR_TOPIC_SET_ESTOP,
	 .qos = 1,
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "estop"},
	{.kind = ENTITY_BINARY_SENSOR,
	 .object = "moving",
	 .name = "Moving",
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "moving",
	 .device_class = "moving"},
	{.kind = ENTITY_BINARY_SENSOR,
	 .object = "obstacle",
	 .name = "Obstacle",
	 .icon = "mdi:wall",
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "obstacle"},
	{.kind = ENTITY_SENSOR,
	 .object = "distance",
	 .name = "Distance",
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "distance_cm",
	 .device_class = "distance",
	 .state_class = "measurement",
	 .unit = "cm"},
	{.kind = ENTITY_SENSOR,
	 .object = "mode",
	 .name = "Mode",
	 .icon = "mdi:car-info",
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "mode",
	 .device_class = "enum"},
	{.kind = ENTITY_SENSOR,
	 .object = "left_duty",
	 .name = "Left motor",
	 .icon = "mdi:engine",
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "left",
	 .state_class = "measurement",
	 .unit = "%"},
	{.kind = ENTITY_SENSOR,
	 .object = "right_duty",
	 .name = "Right motor",
	 .icon = "mdi:engine",
	 .reads = true,
	 .state = IOTCAR_TOPIC_STATE,
	 .value = "right",
	 .state_class = "measurement",
	 .unit = "%"},
	/* When it started: a timestamp, not a duration that changes each
	 * telemetry period. */
	{.kind = ENTITY_SENSOR,
	 .object = "uptime",
	 .name = "Started",
	 .icon = "mdi:clock-start",
	 .reads = true,
	 .state = IOTCAR_TOPIC_TELEMETRY,
	 .value = "started",
	 .device_class = "timestamp",
	 .category = "diagnostic"},
	{.kind = ENTITY_SENSOR,
	 .object = "odometer",
	 .name = "Odometer",
	 .icon = "mdi:counter",
	 .reads = true,
	 .state = IOTCAR_TOPIC_TELEMETRY,
	 .value = "odometer_cm",
	 .device_class = "distance",
	 .state_class = "total_increasing",
	 .unit = "cm",
	 .sim_only = true},
	{.kind = ENTITY_SENSOR,
	 .object = "rssi",
	 .name = "Wi-Fi signal",
	 .reads = true,
	 .state = IOTCAR_TOPIC_TELEMETRY,
	 .value = "rssi_dbm",
	 .device_class = "signal_strength",
	 .state_class = "measurement",
	 .unit = "dBm",
	 .category = "diagnostic"},
	{.kind = ENTITY_SENSOR,
	 .object = "cpu_temp",
	 .name = "CPU temperature",
	 .reads = true,
	 .state = IOTCAR_TOPIC_TELEMETRY,
	 .value = "cpu_temp_c",
	 .device_class = "temperature",
	 .state_class = "measurement",
	 .unit = "°C",
	 .category = "diagnostic"},
	{.kind = ENTITY_EVENT,
	 .object = "event",
	 .name = "Event",
	 .icon = "mdi:car-emergency",
	 .reads = true,
	 .state = IOTCAR_TOPIC_EVENT},
};

#define ENTITY_COUNT (sizeof(entities) / sizeof(entities[0]))

/* What the state's mode and the events can be (protocol §2, §3). */
static const char *const modes[] = {"idle", "driving", "failsafe", "blocked",
				    "estop"};
static const char *const event_types[] = {
	"failsafe",    "obstacle",	   "estop",
	"bad_command", "retained_ignored", "link_lost"};

int discovery_mode_parse(const char *s, enum discovery_mode *mode)
{
	static const char *const names[] = {"off", "entity", "device"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*mode = (enum discovery_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int discovery_print(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* snprintf into @p buf: 0, or -ENAMETOOLONG when it does not fit. */
static int discovery_print(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Topics and ids use the node id "iotcar_<car>". */
static int entity_topic(const struct discovery_car *car, const struct entity *e,
			char *buf, size_t size)
{
	return discovery_print(buf, size, "%s/%s/iotcar_%s/%s/config",
			       car->ha_prefix, entity_components[e->kind],
			       car->id, e->object);
}

static int device_topic(const struct discovery_car *car, char *buf, size_t size)
{
	return discovery_print(buf, size, "%s/device/iotcar_%s/config",
			       car->ha_prefix, car->id);
}

int discovery_dashboard_url(const char *url, const char *broker, const char *id,
			    char *buf, size_t size)
{
	const char *host = strstr(broker, "://");
	size_t len;

	if (strcmp(url, "none") == 0)
		return discovery_print(buf, size, "%s", "");
	if (strcmp(url, "auto") != 0)
		return discovery_print(buf, size, "%s", url);
	host = host ? host + 3 : broker;
	/* host, [v6] or host:port, up to the port or a path. */
	len = *host == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/");
	if (!strncmp(host, "127.", 4) ||
	    (len == 9 && !strncmp(host, "localhost", len)) ||
	    (len == 5 && !strncmp(host, "[::1]", len)))
		return discovery_print(buf, size, "http://%.*s:9001/?car=%s",
				       (int)len, host, id);
	return discovery_print(buf, size, "https://%.*s:8443/?car=%s", (int)len,
			       host, id);
}

int discovery_status_topic(const struct discovery_car *car, char *buf,
			   size_t size)
{
	return discovery_print(buf, size, "%s/status", car->ha_prefix);
}

/* Add @p kind's topic of the car under @p key. */
static bool add_topic(cJSON *o, const struct discovery_car *car,
		      const char *key, enum iotcar_topic_kind kind)
{
	char topic[IOTCAR_TOPIC_MAX];

	return iotcar_topic_build(topic, sizeof(topic), car->prefix, car->id,
				  kind) == 0 &&
	       cJSON_AddStringToObject(o, key, topic);
}

static bool add_strings(cJSON *o, const char *key, const char *const *v,
			size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);

	for (size_t i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);

		if (!s || !cJSON_AddItemToArray(a, s))
			return false;
	}
	return a != NULL;
}

static bool add_optional(cJSON *o, const char *key, const char *value)
{
	return !value || cJSON_AddStringToObject(o, key, value);
}

/* The device and origin blocks, and availability: shared by all. */
static bool add_shared(cJSON *o, const struct discovery_car *car)
{
	char node[IOTCAR_ID_MAX + 8];
	char name[IOTCAR_ID_MAX + 8];
	char model[64];
	cJSON *dev;
	cJSON *ids;
	cJSON *origin;

	if (discovery_print(node, sizeof(node), "iotcar_%s", car->id))
		return false;
	snprintf(name, sizeof(name), "iotcar %s", car->id);
	snprintf(model, sizeof(model), "RC car (%s)", car->hal);
	dev = cJSON_AddObjectToObject(o, "device");
	ids = dev ? cJSON_AddArrayToObject(dev, "identifiers") : NULL;
	if (!ids || !cJSON_AddItemToArray(ids, cJSON_CreateString(node)) ||
	    !cJSON_AddStringToObject(dev, "name", name) ||
	    !cJSON_AddStringToObject(dev, "manufacturer", "iotcar") ||
	    !cJSON_AddStringToObject(dev, "model", model) ||
	    !cJSON_AddStringToObject(dev, "sw_version", IOTCAR_VERSION) ||
	    (car->configuration_url && *car->configuration_url &&
	     !cJSON_AddStringToObject(dev, "configuration_url",
				      car->configuration_url)))
		return false;
	origin = cJSON_AddObjectToObject(o, "origin");
	return origin &&
	       cJSON_AddStringToObject(origin, "name", "iotcar car-agent") &&
	       cJSON_AddStringToObject(origin, "sw_version", IOTCAR_VERSION) &&
	       add_topic(o, car, "availability_topic", IOTCAR_TOPIC_STATUS);
}

/* One entity's own keys (the component's, without the shared blocks). */
static bool add_entity(cJSON *o, const struct discovery_car *car,
		       const struct entity *e)
{
	char uid[IOTCAR_ID_MAX + 40];
	char eid[IOTCAR_ID_MAX + 60];
	char tpl[64];

	snprintf(uid, sizeof(uid), "iotcar_%s_%s", car->id, e->object);
	snprintf(eid, sizeof(eid), "%s.%s", entity_components[e->kind], uid);
	if (!cJSON_AddStringToObject(o, "name", e->name) ||
	    !cJSON_AddStringToObject(o, "unique_id", uid) ||
	    !cJSON_AddStringToObject(o, "default_entity_id", eid) ||
	    !add_optional(o, "icon", e->icon) ||
	    !add_optional(o, "device_class", e->device_class) ||
	    !add_optional(o, "state_class", e->state_class) ||
	    !add_optional(o, "unit_of_measurement", e->unit) ||
	    !add_optional(o, "entity_category", e->category))
		return false;
	if (e->commands &&
	    (!add_topic(o, car, "command_topic", e->command) ||
	     !cJSON_AddNumberToObject(o, "qos", e->qos) ||
	     !cJSON_AddBoolToObject(o, "retain", false) ||
	     !add_optional(o, "payload_press", e->press) ||
	     !add_optional(o, "command_template", e->command_template)))
		return false;
	if (e->reads && !add_topic(o, car, "state_topic", e->state))
		return false;
	if (e->value) {
		snprintf(tpl, sizeof(tpl), "{{ value_json.%s }}", e->value);
		if (!cJSON_AddStringToObject(o, "value_template", tpl))
			return false;
	}
	switch (e->kind) {
	case ENTITY_NUMBER:
		return cJSON_AddNumberToObject(o, "min", 0) &&
		       cJSON_AddNumberToObject(o, "max", 100) &&
		       cJSON_AddNumberToObject(o, "step", 5) &&
		       cJSON_AddStringToObject(o, "mode", "slider");
	case ENTITY_SENSOR:
		if (e->device_class && !strcmp(e->device_class, "enum"))
			return add_strings(o, "options", modes,
					   sizeof(modes) / sizeof(modes[0]));
		if (e->state == IOTCAR_TOPIC_TELEMETRY)
			return cJSON_AddNumberToObject(
				o, "expire_after",
				(3 * car->telemetry_ms + 999) / 1000);
		return true;
	case ENTITY_EVENT:
		return add_strings(o, "event_types", event_types,
				   sizeof(event_types) /
					   sizeof(event_types[0]));
	default:
		return true;
	}
}

/* Whether the car has @p e: the odometer is the simulated car's only. */
static bool entity_applies(const struct discovery_car *car,
			   const struct entity *e)
{
	return !e->sim_only || strcmp(car->hal, "sim") == 0;
}

static int emit_json(cJSON *o, const char *topic, discovery_emit_fn emit,
		     void *ctx)
{
	char *s = cJSON_PrintUnformatted(o);

	if (!s)
		return -ENOMEM;
	emit(ctx, topic, s, strlen(s));
	cJSON_free(s);
	return 0;
}

static int announce_entities(const struct discovery_car *car,
			     discovery_emit_fn emit, void *ctx)
{
	char topic[DISCOVERY_TOPIC_MAX];
	int ret = 0;

	for (size_t i = 0; i < ENTITY_COUNT && ret == 0; i++) {
		cJSON *o = NULL;

		ret = entity_topic(car, &entities[i], topic, sizeof(topic));
		if (ret)
			break;
		/* One the car lacks: removed, in case it had it before. */
		if (!entity_applies(car, &entities[i])) {
			emit(ctx, topic, "", 0);
			continue;
		}
		o = cJSON_CreateObject();
		if (!o || !add_entity(o, car, &entities[i]) ||
		    !add_shared(o, car))
			ret = -ENOMEM;
		else
			ret = emit_json(o, topic, emit, ctx);
		cJSON_Delete(o);
	}
	return ret;
}

static int announce_device(const struct discovery_car *car,
			   discovery_emit_fn emit, void *ctx)
{
	char topic[DISCOVERY_TOPIC_MAX];
	cJSON *o = cJSON_CreateObject();
	cJSON *cmps = o ? cJSON_AddObjectToObject(o, "components") : NULL;
	int ret = cmps && add_shared(o, car) ? 0 : -ENOMEM;

	for (size_t i = 0; i < ENTITY_COUNT && ret == 0; i++) {
		cJSON *c;

		if (!entity_applies(car, &entities[i]))
			continue;
		c = cJSON_AddObjectToObject(cmps, entities[i].object);

		if (!c ||
		    !cJSON_AddStringToObject(
			    c, "platform",
			    entity_components[entities[i].kind]) ||
		    !add_entity(c, car, &entities[i]))
			ret = -ENOMEM;
	}
	if (ret == 0)
		ret = device_topic(car, topic, sizeof(topic));
	if (ret == 0)
		ret = emit_json(o, topic, emit, ctx);
	cJSON_Delete(o);
	return ret;
}

static int remove_entities(const struct discovery_car *car,
			   discovery_emit_fn emit, void *ctx)
{
	char topic[DISCOVERY_TOPIC_MAX];

	for (size_t i = 0; i < ENTITY_COUNT; i++) {
		int ret = entity_topic(car, &entities[i], topic, sizeof(topic));

		if (ret)
			return ret;
		emit(ctx, topic, "", 0);
	}
	return 0;
}

static int remove_device(const struct discovery_car *car,
			 discovery_emit_fn emit, void *ctx)
{
	char topic[DISCOVERY_TOPIC_MAX];
	int ret = device_topic(car, topic, sizeof(topic));

	if (ret == 0)
		emit(ctx, topic, "", 0);
	return ret;
}

int discovery_announce(const struct discovery_car *car,
		       enum discovery_mode mode, discovery_emit_fn emit,
		       void *ctx)
{
	int ret;

	switch (mode) {
	case DISCOVERY_ENTITY:
		ret = announce_entities(car, emit, ctx);
		return ret ? ret : remove_device(car, emit, ctx);
	case DISCOVERY_DEVICE:
		ret = announce_device(car, emit, ctx);
		return ret ? ret : remove_entities(car, emit, ctx);
	default:
		return 0;
	}
}

int discovery_cleanup(const struct discovery_car *car, discovery_emit_fn emit,
		      void *ctx)
{
	static const enum iotcar_topic_kind kept[] = {IOTCAR_TOPIC_STATUS,
						      IOTCAR_TOPIC_STATE};
	char topic[IOTCAR_TOPIC_MAX];
	int ret = remove_entities(car, emit, ctx);

	if (ret == 0)
		ret = remove_device(car, emit, ctx);
	for (size_t i = 0; ret == 0 && i < 2; i++) {
		ret = iotcar_topic_build(topic, sizeof(topic), car->prefix,
					 car->id, kept[i]);
		if (ret == 0)
			emit(ctx, topic, "", 0);
	}
	return ret;
}

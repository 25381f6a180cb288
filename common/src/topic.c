// SPDX-License-Identifier: MIT
/*
 * topic.c: builds and parses the topics of protocol §2; see topic.h.
 */
#include "iotcar/topic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iotcar/text.h"

static const char *const topic_suffixes[IOTCAR_TOPIC_KIND_COUNT] = {
	[IOTCAR_TOPIC_STATUS] = "status",
	[IOTCAR_TOPIC_STATE] = "state",
	[IOTCAR_TOPIC_TELEMETRY] = "telemetry",
	[IOTCAR_TOPIC_SET] = "set",
	[IOTCAR_TOPIC_SET_DRIVE] = "set/drive",
	[IOTCAR_TOPIC_SET_SPEED_LIMIT] = "set/speed_limit",
	[IOTCAR_TOPIC_SET_ESTOP] = "set/estop",
	[IOTCAR_TOPIC_GET] = "get",
	[IOTCAR_TOPIC_RESULT] = "result",
	[IOTCAR_TOPIC_EVENT] = "event",
	[IOTCAR_TOPIC_LINK] = "link",
	[IOTCAR_TOPIC_EDGE] = "edge",
};

static const char *const topic_reserved_ids[] = {IOTCAR_ALL_CARS, "bridge"};

static bool topic_is_id_char(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return !first && (c == '_' || c == '-');
}

static bool topic_is_id_syntax(const char *id)
{
	size_t n = 0;

	for (const char *p = id; *p; p++, n++) {
		if (n >= IOTCAR_ID_MAX || !topic_is_id_char(*p, n == 0))
			return false;
	}
	return n > 0;
}

bool iotcar_topic_is_valid_id(const char *id)
{
	if (!id || !topic_is_id_syntax(id))
		return false;
	for (size_t i = 0;
	     i < sizeof(topic_reserved_ids) / sizeof(topic_reserved_ids[0]);
	     i++) {
		if (strcmp(id, topic_reserved_ids[i]) == 0)
			return false;
	}
	return true;
}

bool iotcar_topic_is_valid_prefix(const char *prefix)
{
	size_t levels = 1;
	size_t n;

	if (!prefix)
		return false;
	n = strlen(prefix);
	if (n == 0 || n > IOTCAR_PREFIX_MAX || prefix[0] == '/' ||
	    prefix[n - 1] == '/' || strstr(prefix, "//"))
		return false;
	for (const char *p = prefix; (p = strchr(p, '/')); p++)
		levels++;
	return levels <= IOTCAR_PREFIX_LEVELS_MAX &&
	       strpbrk(prefix, "+#") == NULL;
}

bool iotcar_topic_is_valid_client_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n > 0 && n <= IOTCAR_CLIENT_ID_MAX &&
	       iotcar_text_is_valid(id, n);
}

const char *iotcar_topic_suffix(enum iotcar_topic_kind kind)
{
	if ((unsigned)kind >= IOTCAR_TOPIC_KIND_COUNT)
		return NULL;
	return topic_suffixes[kind];
}

/* snprintf into buf, or an empty buf and -ENAMETOOLONG. */
static int topic_print(char *buf, size_t size, int n)
{
	if (n < 0 || (size_t)n >= size) {
		if (size)
			buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

int iotcar_topic_build(char *buf, size_t size, const char *prefix,
		       const char *car, enum iotcar_topic_kind kind)
{
	const char *suffix = iotcar_topic_suffix(kind);
	int n;

	if (size)
		buf[0] = '\0';
	if (!suffix || !iotcar_topic_is_valid_prefix(prefix) || !car ||
	    (strcmp(car, IOTCAR_ALL_CARS) != 0 &&
	     !iotcar_topic_is_valid_id(car)))
		return -EINVAL;
	n = snprintf(buf, size, "%s/%s/%s", prefix, car, suffix);
	return topic_print(buf, size, n);
}

int iotcar_topic_filter(char *buf, size_t size, const char *prefix,
			enum iotcar_topic_kind kind)
{
	const char *suffix = iotcar_topic_suffix(kind);

	if (size)
		buf[0] = '\0';
	if (!suffix || !iotcar_topic_is_valid_prefix(prefix))
		return -EINVAL;
	return topic_print(buf, size,
			   snprintf(buf, size, "%s/+/%s", prefix, suffix));
}

int iotcar_topic_bridge_status(char *buf, size_t size, const char *prefix,
			       const char *id)
{
	if (size)
		buf[0] = '\0';
	if (!iotcar_topic_is_valid_prefix(prefix) || !id ||
	    !topic_is_id_syntax(id))
		return -EINVAL;
	return topic_print(
		buf, size,
		snprintf(buf, size, "%s/bridge/%s/status", prefix, id));
}

int iotcar_topic_parse(const char *prefix, const char *topic,
		       char car[IOTCAR_ID_MAX + 1],
		       enum iotcar_topic_kind *kind)
{
	size_t plen = strlen(prefix);
	const char *id;
	const char *slash;
	size_t idlen;

	if (strncmp(topic, prefix, plen) != 0 || topic[plen] != '/')
		return -EINVAL;
	id = topic + plen + 1;
	slash = strchr(id, '/');
	if (!slash)
		return -EINVAL;
	idlen = (size_t)(slash - id);
	if (idlen == 0 || idlen > IOTCAR_ID_MAX)
		return -EINVAL;
	memcpy(car, id, idlen);
	car[idlen] = '\0';
	if (strcmp(car, IOTCAR_ALL_CARS) != 0 && !iotcar_topic_is_valid_id(car))
		return -EINVAL;
	for (int k = 0; k < IOTCAR_TOPIC_KIND_COUNT; k++) {
		if (strcmp(slash + 1, topic_suffixes[k]) == 0) {
			*kind = (enum iotcar_topic_kind)k;
			return 0;
		}
	}
	return -EINVAL;
}

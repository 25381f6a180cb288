// SPDX-License-Identifier: MIT
/*
 * mqtt_uri.c: broker URIs, and the wrapper's options from the settings
 * every program shares; see mqtt_int.h and mqtt.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/text.h"
#include "mqtt_int.h"

int mqtt_uri_parse(const char *uri, bool *tls, char *host, size_t hostsize,
		   char *port, size_t portsize)
{
	const char *rest;
	const char *colon;
	const char *end;
	size_t hlen;
	long p;

	if (!strncmp(uri, "tcp://", 6)) {
		*tls = false;
		rest = uri + 6;
	} else if (!strncmp(uri, "ssl://", 6)) {
		*tls = true;
		rest = uri + 6;
	} else {
		return -EINVAL;
	}
	if (*rest == '[') {
		end = strchr(rest, ']');
		if (!end)
			return -EINVAL;
		rest++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -EINVAL;
	} else {
		colon = strrchr(rest, ':');
		end = colon ? colon : rest + strlen(rest);
	}
	hlen = (size_t)(end - rest);
	if (hlen == 0 || hlen >= hostsize || memchr(rest, '/', hlen))
		return -EINVAL;
	memcpy(host, rest, hlen);
	host[hlen] = '\0';
	if (!colon) {
		snprintf(port, portsize, "%s", *tls ? "8883" : "1883");
		return 0;
	}
	if (iotcar_parse_long(colon + 1, 1, 65535, &p))
		return -EINVAL;
	snprintf(port, portsize, "%ld", p);
	return 0;
}

int mqtt_uri_list_split(char *list, char **uris, bool *tls)
{
	char host[MQTT_HOST_MAX];
	char port[8];
	int n = 0;
	bool one;

	*tls = false;
	for (char *uri; (uri = strsep(&list, ","));) {
		if (n == MQTT_URIS_MAX ||
		    mqtt_uri_parse(uri, &one, host, sizeof(host), port,
				   sizeof(port)))
			return -EINVAL;
		*tls |= one;
		uris[n++] = uri;
	}
	return n ? n : -EINVAL;
}

bool iotcar_mqtt_uri_is_valid(const char *list)
{
	char *uris[MQTT_URIS_MAX];
	char *copy = list ? strdup(list) : NULL;
	bool tls;
	bool ok;

	ok = copy && mqtt_uri_list_split(copy, uris, &tls) > 0;
	free(copy);
	return ok;
}

int iotcar_mqtt_opts_from_settings(const struct iotcar_common_settings *s,
				   const char *client_id,
				   struct iotcar_mqtt_opts *opts,
				   char *password, size_t pwsize, char *err,
				   size_t errlen)
{
	int ret;

	memset(opts, 0, sizeof(*opts));
	if (!iotcar_mqtt_uri_is_valid(s->broker)) {
		snprintf(err, errlen,
			 "--broker: '%.60s' is not tcp://host[:port] or "
			 "ssl://host[:port], or a list of up to 8 of them "
			 "separated by commas",
			 s->broker);
		return -EINVAL;
	}
	if (s->password_file) {
		ret = iotcar_read_line(s->password_file, password, pwsize);
		if (ret) {
			snprintf(err, errlen, "--password-file: %s: %s",
				 s->password_file,
				 ret == -ENODATA ? "empty" : strerror(-ret));
			return ret;
		}
		opts->password = password;
	}
	if ((s->cert == NULL) != (s->key == NULL)) {
		snprintf(err, errlen, "--cert and --key go together");
		return -EINVAL;
	}
	opts->uri = s->broker;
	opts->client_id = s->client_id ? s->client_id : client_id;
	opts->username = s->username;
	opts->cafile = s->cafile;
	opts->cert = s->cert;
	opts->key = s->key;
	opts->keepalive_s = s->keepalive_s;
	opts->v311 = s->mqtt_version && !strcmp(s->mqtt_version, "3.1.1");
	opts->reconnect_min_ms = s->reconnect_min_ms;
	opts->reconnect_max_ms = s->reconnect_max_ms;
	return 0;
}

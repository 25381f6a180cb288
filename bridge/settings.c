// SPDX-License-Identifier: MIT
/*
 * settings.c: car-bridge's option table and raw channels; see settings.h.
 */
#include "settings.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/mqtt.h"
#include "iotcar/text.h"
#include "iotcar/topic.h"

#define BS(field) offsetof(struct bridge_settings, field)

static bool settings_is_id(const char *v)
{
	return iotcar_topic_is_valid_id(v);
}

static const struct iotcar_option bridge_options[] = {
	{.key = "id",
	 .section = "bridge",
	 .type = IOTCAR_OPT_STRING,
	 .offset = BS(id),
	 .def = "bridge1",
	 .check = settings_is_id,
	 .check_help = "a-z, 0-9, '_' and '-', up to 32",
	 .arg = "ID",
	 .help = "this bridge's id: iotcar/bridge/<id>/status"},
	{.key = "car",
	 .section = "bridge",
	 .type = IOTCAR_OPT_STRING,
	 .offset = BS(car),
	 .def = "car1",
	 .check = settings_is_id,
	 .check_help = "a car id",
	 .arg = "ID",
	 .help = "the car a client drives until it says `use <car>`"},
	{.key = "listen",
	 .section = "bridge",
	 .type = IOTCAR_OPT_STRING,
	 .offset = BS(listen),
	 .def = "127.0.0.1:9999",
	 .arg = "HOST:PORT",
	 .help = "TCP listener; not loopback means clients must auth"},
	{.key = "udp",
	 .section = "bridge",
	 .type = IOTCAR_OPT_STRING,
	 .offset = BS(udp),
	 .def = "same",
	 .arg = "HOST:PORT",
	 .help = "UDP listener: same (the TCP address), off, or an address"},
	{.key = "token_file",
	 .section = "bridge",
	 .type = IOTCAR_OPT_STRING,
	 .offset = BS(token_file),
	 .arg = "FILE",
	 .help = "file whose first line is the token of `auth <token>`"},
	{.key = "insecure",
	 .section = "bridge",
	 .type = IOTCAR_OPT_BOOL,
	 .offset = BS(insecure),
	 .def = "false",
	 .help = "let clients of a non-loopback listener in without auth"},
	{.key = "max_clients",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = BS(max_clients),
	 .def = "4096",
	 .min = 1,
	 .max = 1000000,
	 .arg = "N",
	 .help = "connections at once; more get ERR busy"},
	{.key = "max_message",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = BS(max_message),
	 .def = "1024",
	 .min = 16,
	 .max = 65536,
	 .arg = "BYTES",
	 .help = "longest message; longer: ERR too-long, close"},
	{.key = "rate_per_s",
	 .section = "limits",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = BS(rate_per_s),
	 .def = "100",
	 .min = 0,
	 .max = 1e6,
	 .arg = "N",
	 .help = "messages a second per client (0: no limit)"},
	{.key = "rate_burst",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = BS(rate_burst),
	 .def = "1000",
	 .min = 1,
	 .max = 1000000,
	 .arg = "N",
	 .help = "messages a client may send at once"},
	{.key = "partial_timeout_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = BS(partial_timeout_ms),
	 .def = "5000",
	 .min = 100,
	 .max = 600000,
	 .arg = "MS",
	 .help = "a line begun must end within this"},
	{.key = "idle_timeout_s",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = BS(idle_timeout_s),
	 .def = "300",
	 .min = 1,
	 .max = 86400,
	 .arg = "S",
	 .help = "close clients silent this long (watchers excepted)"},
	{.key = "out_max_kb",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = BS(out_max_kb),
	 .def = "64",
	 .min = 4,
	 .max = 65536,
	 .arg = "KB",
	 .help = "output waiting for a slow reader before it is "
		 "dropped"},
	{.key = "result_timeout_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = BS(result_timeout_ms),
	 .def = "1000",
	 .min = 10,
	 .max = 60000,
	 .arg = "MS",
	 .help = "how long to wait for the car's result: ERR timeout"},
};

/* What --print-config says about [raw.NAME], after the options. */
static const char settings_raw_example[] =
	"\n; Raw channels, for plain IoT devices (at most 16): every message "
	"a\n"
	"; client sends on the channel's listener is published verbatim to\n"
	"; publish; every message on subscribe is written to its clients, one\n"
	"; line each. No commands, no replies; auth as on the main listener.\n"
	";[raw.door]\n"
	";listen = 127.0.0.1:9101\n"
	";publish = home/door/raw\n"
	";subscribe = home/door/cmd\n";

/* [raw.NAME] key = value */
static int settings_raw(void *ctx, const char *section, const char *key,
			const char *value, char *err, size_t errlen)
{
	struct bridge_settings *s = ctx;
	struct raw_config *r = NULL;
	char **field;

	if (strncmp(section, "raw.", 4) != 0 || !section[4]) {
		snprintf(err, errlen,
			 "unknown section (raw channels are "
			 "[raw.NAME])");
		return -EINVAL;
	}
	for (size_t i = 0; i < s->nraw; i++) {
		if (!strcmp(s->raw[i].name, section + 4))
			r = &s->raw[i];
	}
	if (!r) {
		if (s->nraw == SETTINGS_RAW_MAX) {
			snprintf(err, errlen, "at most %d raw channels",
				 SETTINGS_RAW_MAX);
			return -EINVAL;
		}
		r = &s->raw[s->nraw++];
		iotcar_strlcpy(r->name, section + 4, sizeof(r->name));
	}
	if (!strcmp(key, "listen"))
		field = &r->listen;
	else if (!strcmp(key, "publish"))
		field = &r->publish;
	else if (!strcmp(key, "subscribe"))
		field = &r->subscribe;
	else {
		snprintf(err, errlen,
			 "unknown key (listen, publish, "
			 "subscribe)");
		return -EINVAL;
	}
	if (field != &r->listen &&
	    (!*value || strpbrk(value, "+#") || strlen(value) > 256)) {
		snprintf(err, errlen, "'%.40s' is not a topic (no wildcards)",
			 value);
		return -EINVAL;
	}
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

static struct iotcar_config_spec settings_spec(struct bridge_settings *s,
					       struct iotcar_option_group g[2])
{
	struct iotcar_config_spec spec = {
		.program = "car-bridge",
		.usage = "[OPTION]...",
		.summary = "The iotcar socket bridge: plain TCP and UDP text "
			   "clients drive the cars through MQTT.",
		.groups = g,
		.ngroups = 2,
		.no_operands = true,
		.section_cb = settings_raw,
		.section_ctx = s,
		.print_trailer = settings_raw_example,
	};

	g[0] = (struct iotcar_option_group){
		iotcar_common_options, iotcar_common_options_count, &s->common};
	g[1] = (struct iotcar_option_group){
		bridge_options,
		sizeof(bridge_options) / sizeof(bridge_options[0]), s};
	return spec;
}

int settings_parse_addr(const char *text, const char *what,
			struct settings_addr *addr, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char host[256];
	const char *colon = strrchr(text, ':');
	size_t hlen;
	long port;
	int rc;

	if (!colon || iotcar_parse_long(colon + 1, 1, 65535, &port))
		goto bad;
	hlen = (size_t)(colon - text);
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
		text++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s: cannot resolve '%s': %s", what, host,
			 gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(&addr->ss, ai->ai_addr, ai->ai_addrlen);
	addr->len = ai->ai_addrlen;
	if (ai->ai_family == AF_INET)
		addr->loopback =
			(ntohl(((struct sockaddr_in *)(void *)ai->ai_addr)
				       ->sin_addr.s_addr) >>
			 24) == 127;
	else
		addr->loopback = IN6_IS_ADDR_LOOPBACK(
			&((struct sockaddr_in6 *)(void *)ai->ai_addr)
				 ->sin6_addr);
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errlen, "%s: '%.60s' is not HOST:PORT or [IPV6]:PORT",
		 what, text);
	return -EINVAL;
}

static int settings_check(struct bridge_settings *s, char *err, size_t errlen)
{
	struct settings_addr a;

	if (settings_parse_addr(s->listen, "--listen", &a, err, errlen))
		return -EINVAL;
	if (strcmp(s->udp, "same") && strcmp(s->udp, "off") &&
	    settings_parse_addr(s->udp, "--udp", &a, err, errlen))
		return -EINVAL;
	for (size_t i = 0; i < s->nraw; i++) {
		struct raw_config *r = &s->raw[i];
		char what[64];

		snprintf(what, sizeof(what), "[raw.%s] listen", r->name);
		if (!r->listen) {
			snprintf(err, errlen, "%s is missing", what);
			return -EINVAL;
		}
		if (settings_parse_addr(r->listen, what, &a, err, errlen))
			return -EINVAL;
		if (!r->publish && !r->subscribe) {
			snprintf(err, errlen,
				 "[raw.%s] needs publish, subscribe or both",
				 r->name);
			return -EINVAL;
		}
	}
	return 0;
}

int settings_load(struct bridge_settings *s, int argc, char **argv, char *err,
		  size_t errlen)
{
	struct iotcar_option_group groups[2];
	struct iotcar_config_spec spec = settings_spec(s, groups);
	int nargs = 0;
	int ret = iotcar_config_load(&spec, argc, argv, &nargs, err, errlen);

	return ret ? ret : settings_check(s, err, errlen);
}

void settings_cleanup(struct bridge_settings *s)
{
	struct iotcar_option_group groups[2];
	struct iotcar_config_spec spec = settings_spec(s, groups);

	iotcar_config_cleanup(&spec);
	for (size_t i = 0; i < s->nraw; i++) {
		free(s->raw[i].listen);
		free(s->raw[i].publish);
		free(s->raw[i].subscribe);
	}
	s->nraw = 0;
}

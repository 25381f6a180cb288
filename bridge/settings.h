/* SPDX-License-Identifier: MIT */
/*
 * settings.h: every setting of car-bridge, as one struct and one option
 * table (config.h), plus the raw channels of the config file's
 * [raw.NAME] sections.
 */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "iotcar/config.h"

#define SETTINGS_RAW_MAX 16

/** A raw channel: a plain device's bytes to one topic and back. */
struct raw_config {
	char name[32];
	char *listen;
	/* Every message from a device is published here (or NULL). */
	char *publish;
	/* Every message here is written to every device (or NULL). */
	char *subscribe;
};

struct bridge_settings {
	struct iotcar_common_settings common;
	/* [bridge] */
	char *id;
	char *car;
	char *listen;
	/* "same" (the TCP address), "off", or an address. */
	char *udp;
	char *token_file;
	bool insecure;
	/* [limits] */
	int max_clients;
	int max_message;
	double rate_per_s;
	int rate_burst;
	int partial_timeout_ms;
	int idle_timeout_s;
	int out_max_kb;
	int result_timeout_ms;
	/* [raw.NAME] sections */
	struct raw_config raw[SETTINGS_RAW_MAX];
	size_t nraw;
};

/** A listen address, resolved. */
struct settings_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool loopback;
};

/**
 * @brief Load @p s from defaults, --config, environment and argv.
 * @return 0 run, 1 exit 0 (--help...), -EINVAL exit 2 with @p err set.
 */
int settings_load(struct bridge_settings *s, int argc, char **argv, char *err,
		  size_t errlen);

void settings_cleanup(struct bridge_settings *s);

/**
 * @brief Resolve "host:port" or "[v6]:port".
 * @return 0, or -EINVAL with a message in @p err naming @p what.
 */
int settings_parse_addr(const char *text, const char *what,
			struct settings_addr *addr, char *err, size_t errlen);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * settings.h: every setting of pc-console, as one struct and one option
 * table (config.h). The subcommand and its words are the operands.
 */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "iotcar/config.h"

struct console_settings {
	struct iotcar_common_settings common;
	/* [console] */
	char *car;
	int timeout_ms;
	bool json;
	/* [drive] */
	int step;
	int ttl_ms;
	int rate_hz;
	char *gamepad;
	/* [display] */
	double stop_distance_cm;
	double max_distance_cm;
};

/**
 * @brief Load @p s from defaults, --config, environment and argv; the
 * operands (subcommand and its words) end up in argv[1..*nargs].
 * @return 0 run, 1 exit 0 (--help...), -EINVAL exit 2 with @p err set.
 */
int settings_load(struct console_settings *s, int argc, char **argv, int *nargs,
		  char *err, size_t errlen);

void settings_cleanup(struct console_settings *s);

#endif

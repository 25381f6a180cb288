/* SPDX-License-Identifier: MIT */
/*
 * cli.h: pc-console's one-shot subcommands for scripts. Exit status 0 only
 * when the car confirmed (or the question was answered), 1 with a clear
 * message when it refused, timed out or is offline, 2 on bad usage.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "iotcar/payload.h"
#include "settings.h"

enum cli_cmd {
	CLI_DRIVE,
	CLI_STOP,
	CLI_ESTOP,
	CLI_SPEED,
	CLI_STATUS,
	CLI_WATCH,
	CLI_CARS,
};

struct cli_request {
	enum cli_cmd cmd;
	/* DRIVE, STOP, ESTOP, SPEED: what goes to the car. */
	struct iotcar_set set;
	/* WATCH: every car, not only --car. */
	bool all_cars;
};

/**
 * @brief Parse a subcommand: @p words[0] is its name, the rest its words.
 * @return 0, or -EINVAL with a one-line message in @p err (exit 2).
 */
int cli_parse(int nwords, const char *const *words, struct cli_request *req,
	      char *err, size_t errlen);

/**
 * @brief Connect, do @p req, print the outcome.
 * @return The exit status: 0, 1 (or 2 when the settings are unusable).
 */
int cli_run(const struct console_settings *s, const struct cli_request *req);

/**
 * @brief The MQTT client id and request-id prefix of this console:
 * "pc-" and eight random hex digits, unique per run.
 */
void cli_session_id(char *buf, size_t size);

#endif

// SPDX-License-Identifier: MIT
/*
 * main.c: pc-console's start-up and nothing else — settings, log, then the
 * subcommand or, on a terminal, the dashboard.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "iotcar/log.h"
#include "settings.h"
#include "tui.h"

int main(int argc, char **argv)
{
	struct console_settings s = {0};
	enum iotcar_log_level level = IOTCAR_LOG_WARNING;
	struct cli_request req;
	char err[512];
	int nargs = 0;
	int ret;

	ret = settings_load(&s, argc, argv, &nargs, err, sizeof(err));
	if (ret == 0 && nargs > 0)
		ret = cli_parse(nargs, (const char *const *)(argv + 1), &req,
				err, sizeof(err));
	else if (ret == 0 &&
		 (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		snprintf(err, sizeof(err),
			 "the dashboard needs a terminal; for scripts give a "
			 "command (drive, stop, estop, speed, status, watch, "
			 "cars; see --help)");
		ret = -1;
	}
	if (ret) {
		if (ret < 0)
			fprintf(stderr, "pc-console: %s\n", err);
		settings_cleanup(&s);
		return ret < 0 ? 2 : 0;
	}
	iotcar_log_level_parse(s.common.log_level, &level);
	iotcar_log_init("pc-console", level);
	signal(SIGPIPE, SIG_IGN);
	ret = nargs > 0 ? cli_run(&s, &req) : tui_run(&s);
	settings_cleanup(&s);
	return ret;
}

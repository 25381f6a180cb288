// SPDX-License-Identifier: MIT
/*
 * settings.c: pc-console's option table; see settings.h.
 */
#include "settings.h"

#include <string.h>

#include "iotcar/topic.h"

#define CS(field) offsetof(struct console_settings, field)

static bool settings_is_id(const char *v)
{
	return iotcar_topic_is_valid_id(v);
}

static bool settings_is_gamepad(const char *v)
{
	return !strcmp(v, "auto") || !strcmp(v, "off") || v[0] == '/';
}

static const struct iotcar_option console_options[] = {
	{.key = "car",
	 .section = "console",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(car),
	 .def = "car1",
	 .check = settings_is_id,
	 .check_help = "a car id: a-z, 0-9, '_' and '-', up to 32",
	 .env = "IOTCAR_CAR",
	 .arg = "ID",
	 .help = "the car to drive and watch (Tab picks another in the TUI)"},
	{.key = "timeout_ms",
	 .section = "console",
	 .type = IOTCAR_OPT_INT,
	 .offset = CS(timeout_ms),
	 .def = "2000",
	 .min = 100,
	 .max = 600000,
	 .arg = "MS",
	 .help = "how long a command waits for the broker, then for the "
		 "car's answer"},
	{.key = "json",
	 .section = "console",
	 .type = IOTCAR_OPT_BOOL,
	 .offset = CS(json),
	 .def = "false",
	 .help = "subcommands print JSON (errors too, on stdout)"},
	{.key = "step",
	 .section = "drive",
	 .type = IOTCAR_OPT_INT,
	 .offset = CS(step),
	 .def = "10",
	 .min = 1,
	 .max = 100,
	 .arg = "PCT",
	 .help = "how much one key press changes throttle or steer"},
	{.key = "ttl_ms",
	 .section = "drive",
	 .type = IOTCAR_OPT_INT,
	 .offset = CS(ttl_ms),
	 .def = "500",
	 .min = 50,
	 .max = 2000,
	 .arg = "MS",
	 .help = "life of each command the TUI sends: the car stops this "
		 "long after the console dies"},
	{.key = "rate_hz",
	 .section = "drive",
	 .type = IOTCAR_OPT_INT,
	 .offset = CS(rate_hz),
	 .def = "20",
	 .min = 2,
	 .max = 50,
	 .arg = "HZ",
	 .help = "how often the TUI repeats a non-zero setpoint"},
	{.key = "gamepad",
	 .section = "drive",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(gamepad),
	 .def = "auto",
	 .check = settings_is_gamepad,
	 .check_help = "auto, off, or a device path",
	 .arg = "DEV",
	 .help = "joystick device: auto (the first /dev/input/js*), off, or "
		 "a path"},
	{.key = "stop_distance_cm",
	 .section = "display",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = CS(stop_distance_cm),
	 .def = "25",
	 .min = 0,
	 .max = 1000,
	 .arg = "CM",
	 .help = "the car's stop distance, marked on the distance gauge"},
	{.key = "max_distance_cm",
	 .section = "display",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = CS(max_distance_cm),
	 .def = "300",
	 .min = 10,
	 .max = 10000,
	 .arg = "CM",
	 .help = "the full scale of the distance gauge"},
};

/* A console is interactive: its log says only what went wrong. */
static const char *const settings_defaults[] = {"log_level=warning", NULL};

static struct iotcar_config_spec settings_spec(struct console_settings *s,
					       struct iotcar_option_group g[2])
{
	struct iotcar_config_spec spec = {
		.program = "pc-console",
		.usage = "[OPTION]... [COMMAND [ARG]...]",
		.summary =
			"Drive and watch iotcar cars. Without a command, on a "
			"terminal: the live dashboard\n(keys W/A/S/D, arrows, "
			"space, E, +/-, Tab, ?, Q). Commands for scripts:\n"
			"  drive TEXT...     forward [SPEED] [MS], backward, "
			"left, right, drive T S [MS],\n"
			"                    stop; exit 0 only when "
			"the car confirmed\n"
			"  stop              stop now\n"
			"  estop on|off      latch or release the e-stop\n"
			"  speed 0-100       set the speed limit\n"
			"  status            print the car's state JSON\n"
			"  watch [all]       one line per state, event and "
			"status until interrupted\n"
			"  cars              the cars the broker knows, online "
			"or offline\n"
			"Exit status: 0 confirmed, 1 refused, timed out or "
			"offline, 2 bad usage.",
		.groups = g,
		.ngroups = 2,
		.defaults = settings_defaults,
	};

	g[0] = (struct iotcar_option_group){
		iotcar_common_options, iotcar_common_options_count, &s->common};
	g[1] = (struct iotcar_option_group){
		console_options,
		sizeof(console_options) / sizeof(console_options[0]), s};
	return spec;
}

int settings_load(struct console_settings *s, int argc, char **argv, int *nargs,
		  char *err, size_t errlen)
{
	struct iotcar_option_group groups[2];
	struct iotcar_config_spec spec = settings_spec(s, groups);

	return iotcar_config_load(&spec, argc, argv, nargs, err, errlen);
}

void settings_cleanup(struct console_settings *s)
{
	struct iotcar_option_group groups[2];
	struct iotcar_config_spec spec = settings_spec(s, groups);

	iotcar_config_cleanup(&spec);
}

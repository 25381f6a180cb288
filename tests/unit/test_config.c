// SPDX-License-Identifier: MIT
/*
 * test_config.c: config.c through the car agent's real option table —
 * defaults, flags, INI files, environment, precedence, and messages that
 * name the bad flag or key.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "settings.h"
#include "test.h"

#define MAXARGS 16

static char fixture_dir[] = "/tmp/iotcar-config-XXXXXX";

/* Run settings_load on a NULL-terminated argument list. */
static int load(struct agent_settings *s, char *err, size_t errlen, ...)
{
	char *argv[MAXARGS] = {"car-agent"};
	int argc = 1;
	va_list ap;

	va_start(ap, errlen);
	while (argc < MAXARGS - 1 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	settings_cleanup(s);
	*s = (struct agent_settings){0};
	err[0] = '\0';
	return settings_load(s, argc, argv, err, errlen);
}

static char *fixture(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	f = fopen(path, "w");
	if (!f)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

static void config_defaults(void)
{
	struct agent_settings s = {0};
	char err[256];

	CHECK_INT(load(&s, err, sizeof(err), NULL), 0);
	CHECK_STR(s.id, "car1");
	CHECK_STR(s.common.broker, "tcp://127.0.0.1:1883");
	CHECK_STR(s.common.prefix, "iotcar");
	CHECK_INT(s.ttl_ms, 500);
	CHECK_INT(s.max_ttl_ms, 2000);
	CHECK_INT(s.speed_limit, 100);
	CHECK_DBL(s.stop_distance_cm, 25.0, 1e-9);
	CHECK_DBL(s.sim_wall_cm, 200.0, 1e-9);
	CHECK_INT(s.telemetry_ms, 1000);
	CHECK_STR(settings_hal(&s), "sim");
	CHECK(s.chip == NULL);
	settings_cleanup(&s);
}

static void config_flags_both_forms(void)
{
	struct agent_settings s = {0};
	char err[256];

	CHECK_INT(load(&s, err, sizeof(err), "--id", "car2", "--ttl-ms=300",
		       "--sim-wall-cm", "40.5", "--hal", "sim", NULL),
		  0);
	CHECK_STR(s.id, "car2");
	CHECK_INT(s.ttl_ms, 300);
	CHECK_DBL(s.sim_wall_cm, 40.5, 1e-9);
	settings_cleanup(&s);
}

static const struct {
	const char *flag;
	const char *value;
	const char *says;
} bad_flags[] = {
	{"--ttl-ms", "abc", "--ttl-ms: 'abc' is not an integer"},
	{"--ttl-ms", "10", "--ttl-ms: 10 is out of range 50..60000"},
	{"--sim-wall-cm", "far", "--sim-wall-cm: 'far' is not a number"},
	{"--hal", "pigpio", "--hal: 'pigpio' is not one of auto|sim|gpiod"},
	{"--id", "Car1", "--id: 'Car1' is not valid"},
	{"--id", "all", "--id: 'all' is not valid"},
	{"--broker", "http://x", "--broker: 'http://x' is not valid"},
	{"--log-level", "loud", "--log-level: 'loud' is not valid"},
	{"--prefix", "a/#", "--prefix: 'a/#' is not valid"},
};

static void config_bad_flag_values_name_the_flag(void)
{
	struct agent_settings s = {0};
	char err[256];

	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		int ret = load(&s, err, sizeof(err), bad_flags[i].flag,
			       bad_flags[i].value, NULL);

		if (ret != -EINVAL || !strstr(err, bad_flags[i].says))
			TEST_FAIL("%s %s: ret %d, message '%s'",
				  bad_flags[i].flag, bad_flags[i].value, ret,
				  err);
	}
	settings_cleanup(&s);
}

static void config_usage_errors(void)
{
	struct agent_settings s = {0};
	char err[256];

	CHECK_INT(load(&s, err, sizeof(err), "--fly", NULL), -EINVAL);
	CHECK(strstr(err, "unknown option '--fly'") != NULL);
	CHECK_INT(load(&s, err, sizeof(err), "-x", NULL), -EINVAL);
	CHECK(strstr(err, "'-x'") != NULL);
	CHECK_INT(load(&s, err, sizeof(err), "--id", NULL), -EINVAL);
	CHECK(strstr(err, "--id needs a value") != NULL);
	CHECK_INT(load(&s, err, sizeof(err), "extra", NULL), -EINVAL);
	CHECK(strstr(err, "unexpected argument 'extra'") != NULL);
	CHECK_INT(load(&s, err, sizeof(err), "--ttl-ms", "3000", NULL),
		  -EINVAL);
	CHECK(strstr(err, "--max-ttl-ms") != NULL);
	CHECK_INT(load(&s, err, sizeof(err), "--hal", "gpiod", NULL), -EINVAL);
	CHECK(strstr(err, "[gpio]") != NULL);
	settings_cleanup(&s);
}

static void config_help_and_version_exit_zero(void)
{
	struct agent_settings s = {0};
	char err[256];

	CHECK_INT(load(&s, err, sizeof(err), "--version", NULL), 1);
	CHECK_INT(load(&s, err, sizeof(err), "--id", "car2", "-h", NULL), 1);
	settings_cleanup(&s);
}

static void config_file_and_precedence(void)
{
	struct agent_settings s = {0};
	char err[256];
	char *path = fixture("good.conf", "; a comment\n"
					  "# another\n"
					  "[mqtt]\n"
					  "broker = tcp://10.0.0.2:1884\n"
					  "[car]\n"
					  "id = car3\n"
					  "[limits]\n"
					  "ttl_ms = 700\n"
					  "[sim]\n"
					  "sim_trace = \"/tmp/with space\"\n"
					  "[gpio]\n"
					  "left_in1 = GPIO17\n");

	CHECK_INT(load(&s, err, sizeof(err), "--config", path, NULL), 0);
	CHECK_STR(s.id, "car3");
	CHECK_INT(s.ttl_ms, 700);
	CHECK_STR(s.common.broker, "tcp://10.0.0.2:1884");
	CHECK_STR(s.sim_trace, "/tmp/with space");
	CHECK_STR(s.left_in1, "GPIO17");
	/* A configured line makes auto mean gpiod. */
	CHECK_STR(settings_hal(&s), "gpiod");
	/* The command line wins over the file, wherever it stands. */
	CHECK_INT(load(&s, err, sizeof(err), "--id", "car4", "--config", path,
		       NULL),
		  0);
	CHECK_STR(s.id, "car4");
	/* The environment wins over the file, the command line over both. */
	setenv("IOTCAR_BROKER", "tcp://127.0.0.1:2000", 1);
	CHECK_INT(load(&s, err, sizeof(err), "--config", path, NULL), 0);
	CHECK_STR(s.common.broker, "tcp://127.0.0.1:2000");
	CHECK_INT(load(&s, err, sizeof(err), "--config", path, "--broker",
		       "ssl://h:8883", NULL),
		  0);
	CHECK_STR(s.common.broker, "ssl://h:8883");
	unsetenv("IOTCAR_BROKER");
	settings_cleanup(&s);
}

static const struct {
	const char *text;
	const char *says;
} bad_files[] = {
	{"[car]\nid = car1\nfly = yes\n", ":3: unknown key 'fly'"},
	{"[car]\nttl_ms = 300\n",
	 ":2: key 'ttl_ms' belongs in section [limits]"},
	{"[limits]\nttl_ms = soon\n", ":2: [limits] ttl_ms: 'soon' is not an"},
	{"[car]\nid\n", ":2: syntax error"},
	{"[car]\nleft-in1 = 3\n", ":2: unknown key 'left-in1'"},
};

static void config_file_errors_name_line_and_key(void)
{
	struct agent_settings s = {0};
	char err[256];

	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		char *path = fixture("bad.conf", bad_files[i].text);
		int ret = load(&s, err, sizeof(err), "--config", path, NULL);

		if (ret != -EINVAL || !strstr(err, bad_files[i].says) ||
		    !strstr(err, "bad.conf"))
			TEST_FAIL("file %zu: ret %d, message '%s'", i, ret,
				  err);
	}
	CHECK_INT(load(&s, err, sizeof(err), "--config", "/nonexistent.conf",
		       NULL),
		  -EINVAL);
	CHECK(strstr(err, "cannot read /nonexistent.conf") != NULL);
	settings_cleanup(&s);
}

static const struct test_case cases[] = {
	{"config_defaults", config_defaults},
	{"config_flags_both_forms", config_flags_both_forms},
	{"config_bad_flag_values_name_the_flag",
	 config_bad_flag_values_name_the_flag},
	{"config_usage_errors", config_usage_errors},
	{"config_help_and_version_exit_zero",
	 config_help_and_version_exit_zero},
	{"config_file_and_precedence", config_file_and_precedence},
	{"config_file_errors_name_line_and_key",
	 config_file_errors_name_line_and_key},
};

int main(int argc, char **argv)
{
	int ret;

	if (!mkdtemp(fixture_dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
	unlink(fixture("good.conf", ""));
	unlink(fixture("bad.conf", ""));
	rmdir(fixture_dir);
	return ret;
}

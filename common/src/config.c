// SPDX-License-Identifier: MIT
/*
 * config.c: the table-driven settings of config.h. One function, config_set,
 * turns text into a typed value for defaults, INI files, the environment and
 * the command line alike (Mosquitto's "one grammar, two sources", without its
 * atoi).
 */
#include "iotcar/config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iotcar/mqtt.h"
#include "iotcar/text.h"
#include "iotcar/topic.h"

#define CS(field) offsetof(struct iotcar_common_settings, field)

static bool config_is_level(const char *v)
{
	return !strcmp(v, "error") || !strcmp(v, "warning") ||
	       !strcmp(v, "info") || !strcmp(v, "debug");
}

const struct iotcar_option iotcar_common_options[] = {
	{.key = "broker",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(broker),
	 .def = "tcp://127.0.0.1:1883",
	 .check = iotcar_mqtt_uri_is_valid,
	 .check_help = "tcp://host[:port] or ssl://host[:port], or up to 8 "
		       "of them separated by commas",
	 .env = "IOTCAR_BROKER",
	 .arg = "URI",
	 .help = "MQTT broker: tcp://host:port, or ssl://host:port for TLS; "
		 "several, separated by commas, are tried in order"},
	{.key = "username",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(username),
	 .arg = "NAME",
	 .help = "user name for the broker"},
	{.key = "password_file",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(password_file),
	 .arg = "FILE",
	 .help = "file whose first line is the broker password"},
	{.key = "cafile",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(cafile),
	 .arg = "FILE",
	 .help = "CA certificate that signed the broker's (ssl://)"},
	{.key = "cert",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(cert),
	 .arg = "FILE",
	 .help = "client certificate, when the broker asks for one"},
	{.key = "key",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(key),
	 .arg = "FILE",
	 .help = "client private key"},
	{.key = "client_id",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(client_id),
	 .check = iotcar_topic_is_valid_client_id,
	 .check_help = "1 to 128 bytes of text (AWS IoT's limit)",
	 .arg = "ID",
	 .help = "MQTT client id (default: derived from the program and id)"},
	{.key = "keepalive_s",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_INT,
	 .offset = CS(keepalive_s),
	 .def = "10",
	 .min = 5,
	 .max = 600,
	 .arg = "S",
	 .help = "MQTT keep-alive; the broker's LWT fires "
		 "after 1.5 times this"},
	{.key = "mqtt_version",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_CHOICE,
	 .offset = CS(mqtt_version),
	 .def = "5",
	 .choices = "5|3.1.1",
	 .help = "MQTT 5, or 3.1.1 for a broker without it (no Response "
		 "Topics: mosquitto_rr gets no answer)"},
	{.key = "reconnect_min_ms",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_INT,
	 .offset = CS(reconnect_min_ms),
	 .def = "250",
	 .min = 10,
	 .max = 60000,
	 .arg = "MS",
	 .help = "first delay before reconnecting; doubles each try"},
	{.key = "reconnect_max_ms",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_INT,
	 .offset = CS(reconnect_max_ms),
	 .def = "5000",
	 .min = 10,
	 .max = 600000,
	 .arg = "MS",
	 .help = "longest delay between tries"},
	{.key = "prefix",
	 .section = "mqtt",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(prefix),
	 .def = "iotcar",
	 .arg = "TOPIC",
	 .check = iotcar_topic_is_valid_prefix,
	 .check_help = "1 to 4 topic levels without '+', '#', or '/' at "
		       "either end",
	 .help = "first topic level of every iotcar topic"},
	{.key = "log_level",
	 .section = "log",
	 .type = IOTCAR_OPT_STRING,
	 .offset = CS(log_level),
	 .def = "info",
	 .check = config_is_level,
	 .check_help = "error, warning, info or debug",
	 .arg = "LEVEL",
	 .help = "error, warning, info or debug"},
};

const size_t iotcar_common_options_count =
	sizeof(iotcar_common_options) / sizeof(iotcar_common_options[0]);

struct config_ctx {
	const struct iotcar_config_spec *spec;
	char *err;
	size_t errlen;
	/* Set by the INI handler on its first failure. */
	bool failed;
};

static void *config_field(const struct iotcar_option *opt, void *base)
{
	return (char *)base + opt->offset;
}

static bool config_choice_ok(const char *choices, const char *value)
{
	size_t n = strlen(value);
	const char *p = choices;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, value, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static int config_set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* Turn @p value into the option's type; a message for people on error. */
static int config_set(const struct iotcar_option *opt, void *base,
		      const char *value, char *msg, size_t msglen)
{
	void *field = config_field(opt, base);
	long l;
	double d;
	int ret;

	switch (opt->type) {
	case IOTCAR_OPT_INT:
		ret = iotcar_parse_long(value, (long)opt->min, (long)opt->max,
					&l);
		if (ret == -EINVAL)
			snprintf(msg, msglen, "'%.40s' is not an integer",
				 value);
		else if (ret)
			snprintf(msg, msglen,
				 "%.40s is out of range %.0f..%.0f", value,
				 opt->min, opt->max);
		else
			*(int *)field = (int)l;
		return ret ? -EINVAL : 0;
	case IOTCAR_OPT_DOUBLE:
		ret = iotcar_parse_double(value, opt->min, opt->max, &d);
		if (ret == -EINVAL)
			snprintf(msg, msglen, "'%.40s' is not a number", value);
		else if (ret)
			snprintf(msg, msglen, "%.40s is out of range %g..%g",
				 value, opt->min, opt->max);
		else
			*(double *)field = d;
		return ret ? -EINVAL : 0;
	case IOTCAR_OPT_BOOL:
		if (iotcar_parse_bool(value, field)) {
			snprintf(msg, msglen,
				 "'%.40s' is not true/false, yes/no or on/off",
				 value);
			return -EINVAL;
		}
		return 0;
	case IOTCAR_OPT_CHOICE:
		if (!config_choice_ok(opt->choices, value)) {
			snprintf(msg, msglen, "'%.40s' is not one of %s", value,
				 opt->choices);
			return -EINVAL;
		}
		return config_set_string(field, value);
	case IOTCAR_OPT_STRING:
		if (opt->check && !opt->check(value)) {
			snprintf(msg, msglen, "'%.40s' is not valid: %s", value,
				 opt->check_help);
			return -EINVAL;
		}
		return config_set_string(field, value);
	}
	return -EINVAL;
}

/* Find the option whose key is @p key, '-' and '_' alike. */
static const struct iotcar_option *
config_find(const struct iotcar_config_spec *spec, const char *key,
	    size_t keylen, void **base)
{
	for (size_t g = 0; g < spec->ngroups; g++) {
		const struct iotcar_option_group *grp = &spec->groups[g];

		for (size_t i = 0; i < grp->count; i++) {
			const char *k = grp->options[i].key;
			size_t j;

			if (strlen(k) != keylen)
				continue;
			for (j = 0; j < keylen; j++) {
				char c = key[j] == '-' ? '_' : key[j];

				if (c != k[j])
					break;
			}
			if (j == keylen) {
				*base = grp->base;
				return &grp->options[i];
			}
		}
	}
	return NULL;
}

/* The program's own default for @p opt, else the table's. */
static const char *config_default(const struct iotcar_config_spec *spec,
				  const struct iotcar_option *opt)
{
	size_t klen = strlen(opt->key);

	for (size_t i = 0; spec->defaults && spec->defaults[i]; i++) {
		if (!strncmp(spec->defaults[i], opt->key, klen) &&
		    spec->defaults[i][klen] == '=')
			return spec->defaults[i] + klen + 1;
	}
	return opt->def;
}

/* A default that does not parse is a bug in the table: say which. */
static int config_apply_defaults(const struct iotcar_config_spec *spec,
				 char *err, size_t errlen)
{
	char msg[160];

	for (size_t g = 0; g < spec->ngroups; g++) {
		const struct iotcar_option_group *grp = &spec->groups[g];

		for (size_t i = 0; i < grp->count; i++) {
			const struct iotcar_option *opt = &grp->options[i];
			const char *def = config_default(spec, opt);

			if (def &&
			    config_set(opt, grp->base, def, msg, sizeof(msg))) {
				snprintf(err, errlen, "default of %s: %s",
					 opt->key, msg);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* ==== INI file ==== */

/* Does some option of the tables live in @p section? */
static bool config_is_section(const struct iotcar_config_spec *spec,
			      const char *section)
{
	for (size_t g = 0; g < spec->ngroups; g++) {
		for (size_t i = 0; i < spec->groups[g].count; i++) {
			if (!strcmp(spec->groups[g].options[i].section,
				    section))
				return true;
		}
	}
	return false;
}

static int config_ini_handler(void *user, const char *section, const char *name,
			      const char *value)
{
	struct config_ctx *ctx = user;
	const struct iotcar_option *opt;
	char msg[160];
	size_t vlen = strlen(value);
	char unquoted[1024];
	void *base;

	if (ctx->failed)
		return 0;
	if (*section && ctx->spec->section_cb &&
	    !config_is_section(ctx->spec, section)) {
		if (ctx->spec->section_cb(ctx->spec->section_ctx, section, name,
					  value, msg, sizeof(msg)) == 0)
			return 1;
		snprintf(ctx->err, ctx->errlen, "[%.40s] %s: %s", section, name,
			 msg);
		goto fail;
	}
	opt = config_find(ctx->spec, name, strlen(name), &base);
	if (!opt || strchr(name, '-')) {
		snprintf(ctx->err, ctx->errlen, "unknown key '%.40s'", name);
		goto fail;
	}
	if (*section && strcmp(section, opt->section) != 0) {
		snprintf(ctx->err, ctx->errlen,
			 "key '%s' belongs in section [%s], not [%.40s]", name,
			 opt->section, section);
		goto fail;
	}
	/* "quoted values" lose their quotes. */
	if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"' &&
	    vlen - 2 < sizeof(unquoted)) {
		memcpy(unquoted, value + 1, vlen - 2);
		unquoted[vlen - 2] = '\0';
		value = unquoted;
	}
	if (config_set(opt, base, value, msg, sizeof(msg))) {
		snprintf(ctx->err, ctx->errlen, "[%s] %s: %s", opt->section,
			 name, msg);
		goto fail;
	}
	return 1;
fail:
	ctx->failed = true;
	return 0;
}

/* Load @p path; on error, "path:line: what" in @p err. */
static int config_load_file(const struct iotcar_config_spec *spec,
			    const char *path, char *err, size_t errlen)
{
	char msg[256] = "";
	struct config_ctx ctx = {
		.spec = spec, .err = msg, .errlen = sizeof(msg)};
	int line = ini_parse(path, config_ini_handler, &ctx);

	if (line == 0)
		return 0;
	if (line == -1)
		snprintf(err, errlen, "--config: cannot read %s: %s", path,
			 strerror(errno));
	else if (line < 0)
		snprintf(err, errlen, "%s: out of memory", path);
	else
		snprintf(err, errlen, "%s:%d: %s", path, line,
			 msg[0] ? msg
				: "syntax error (expected 'key = value' or "
				  "'[section]')");
	return -EINVAL;
}

/* ==== Environment and command line ==== */

static int config_load_env(const struct iotcar_config_spec *spec, char *err,
			   size_t errlen)
{
	char msg[160];

	for (size_t g = 0; g < spec->ngroups; g++) {
		const struct iotcar_option_group *grp = &spec->groups[g];

		for (size_t i = 0; i < grp->count; i++) {
			const struct iotcar_option *opt = &grp->options[i];
			const char *v = opt->env ? getenv(opt->env) : NULL;

			if (!v || !*v)
				continue;
			if (config_set(opt, grp->base, v, msg, sizeof(msg))) {
				snprintf(err, errlen, "%s: %s", opt->env, msg);
				return -EINVAL;
			}
		}
	}
	return 0;
}

enum config_builtin {
	CONFIG_NONE,
	CONFIG_HELP,
	CONFIG_VERSION,
	CONFIG_FILE,
	CONFIG_PRINT,
};

static enum config_builtin config_builtin(const char *arg, size_t namelen)
{
	if (!strcmp(arg, "-h") || !strcmp(arg, "--help"))
		return CONFIG_HELP;
	if (!strcmp(arg, "-V") || !strcmp(arg, "--version"))
		return CONFIG_VERSION;
	if (namelen == 6 && !strncmp(arg, "--config", 8))
		return CONFIG_FILE;
	if (!strcmp(arg, "--print-config"))
		return CONFIG_PRINT;
	return CONFIG_NONE;
}

/* Positional arguments move to argv[1..], in order, on the second pass. */
static void config_positional(char **argv, char *arg, bool apply, int *npos)
{
	++*npos;
	if (apply)
		argv[*npos] = arg;
}

/*
 * One walk over argv. First pass (apply = false): find --config, --help and
 * --version. Second pass: set options and gather positional arguments.
 */
static int config_walk(const struct iotcar_config_spec *spec, int argc,
		       char **argv, bool apply, const char **config_path,
		       bool *print, int *nargs, char *err, size_t errlen)
{
	char msg[160];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		const char *eq = strchr(arg, '=');
		size_t namelen = eq ? (size_t)(eq - arg - 2) : strlen(arg) - 2;
		const struct iotcar_option *opt;
		const char *value;
		enum config_builtin b;
		void *base;

		if (!strcmp(arg, "--")) {
			while (++i < argc)
				config_positional(argv, argv[i], apply, &npos);
			break;
		}
		/* "-20" is a number for a subcommand, not an option. */
		if (arg[0] != '-' || (arg[1] >= '0' && arg[1] <= '9') ||
		    arg[1] == '\0') {
			config_positional(argv, arg, apply, &npos);
			continue;
		}
		b = config_builtin(arg, namelen);
		if (b == CONFIG_HELP || b == CONFIG_VERSION) {
			if (!apply)
				return b;
			continue;
		}
		if (b == CONFIG_PRINT) {
			if (apply)
				*print = true;
			continue;
		}
		if (arg[1] != '-') {
			snprintf(err, errlen,
				 "unknown option '%.40s' (see "
				 "--help)",
				 arg);
			return -EINVAL;
		}
		opt = b == CONFIG_FILE
			      ? NULL
			      : config_find(spec, arg + 2, namelen, &base);
		if (b != CONFIG_FILE && !opt) {
			snprintf(err, errlen,
				 "unknown option '--%.*s' (see --help)",
				 (int)(namelen > 40 ? 40 : namelen), arg + 2);
			return -EINVAL;
		}
		if (eq)
			value = eq + 1;
		else if (opt && opt->type == IOTCAR_OPT_BOOL)
			value = "true";
		else if (i + 1 < argc)
			value = argv[++i];
		else {
			snprintf(err, errlen, "--%.*s needs a value",
				 (int)(namelen > 40 ? 40 : namelen), arg + 2);
			return -EINVAL;
		}
		if (b == CONFIG_FILE) {
			*config_path = value;
			continue;
		}
		if (apply && config_set(opt, base, value, msg, sizeof(msg))) {
			snprintf(err, errlen, "--%.*s: %s",
				 (int)(namelen > 40 ? 40 : namelen), arg + 2,
				 msg);
			return -EINVAL;
		}
	}
	if (nargs)
		*nargs = npos;
	return 0;
}

/*
 * Without --config: IOTCAR_CONFDIR/<program>.conf (/etc/iotcar) when it
 * exists (the directory: $IOTCAR_CONFIG_DIR), as a service expects.
 */
static const char *config_default_path(const struct iotcar_config_spec *spec,
				       char *buf, size_t len)
{
	const char *dir = getenv("IOTCAR_CONFIG_DIR");

	snprintf(buf, len, "%s/%s.conf", dir && *dir ? dir : IOTCAR_CONFDIR,
		 spec->program);
	return access(buf, F_OK) == 0 ? buf : NULL;
}

int iotcar_config_load(const struct iotcar_config_spec *spec, int argc,
		       char **argv, int *nargs, char *err, size_t errlen)
{
	char default_path[300];
	const char *path = NULL;
	bool print = false;
	int ret;

	err[0] = '\0';
	ret = config_walk(spec, argc, argv, false, &path, &print, NULL, err,
			  errlen);
	if (ret == CONFIG_HELP) {
		iotcar_config_print_help(spec, stdout);
		return 1;
	}
	if (ret == CONFIG_VERSION) {
		printf("%s (iotcar) %s\n", spec->program, IOTCAR_VERSION);
		return 1;
	}
	if (ret)
		return ret;
	if (config_apply_defaults(spec, err, errlen))
		return -EINVAL;
	if (!path) {
		path = config_default_path(spec, default_path,
					   sizeof(default_path));
		if (spec->read_installed)
			*spec->read_installed = path != NULL;
	}
	if (path && config_load_file(spec, path, err, errlen))
		return -EINVAL;
	if (config_load_env(spec, err, errlen))
		return -EINVAL;
	ret = config_walk(spec, argc, argv, true, &path, &print, nargs, err,
			  errlen);
	if (ret == 0 && spec->no_operands && *nargs > 0) {
		snprintf(err, errlen,
			 "unexpected argument '%.40s' (see --help)", argv[1]);
		return -EINVAL;
	}
	if (ret == 0 && print) {
		iotcar_config_print(spec, stdout);
		return 1;
	}
	return ret;
}

void iotcar_config_cleanup(const struct iotcar_config_spec *spec)
{
	for (size_t g = 0; g < spec->ngroups; g++) {
		const struct iotcar_option_group *grp = &spec->groups[g];

		for (size_t i = 0; i < grp->count; i++) {
			const struct iotcar_option *opt = &grp->options[i];
			char **field;

			if (opt->type != IOTCAR_OPT_STRING &&
			    opt->type != IOTCAR_OPT_CHOICE)
				continue;
			field = config_field(opt, grp->base);
			free(*field);
			*field = NULL;
		}
	}
}

/* ==== --print-config ==== */

static void config_print_value(const struct iotcar_option *opt, void *base,
			       FILE *out)
{
	void *field = config_field(opt, base);
	const char *str;

	switch (opt->type) {
	case IOTCAR_OPT_INT:
		fprintf(out, "%s = %d\n", opt->key, *(int *)field);
		return;
	case IOTCAR_OPT_DOUBLE:
		fprintf(out, "%s = %g\n", opt->key, *(double *)field);
		return;
	case IOTCAR_OPT_BOOL:
		fprintf(out, "%s = %s\n", opt->key,
			*(bool *)field ? "true" : "false");
		return;
	case IOTCAR_OPT_STRING:
	case IOTCAR_OPT_CHOICE:
		str = *(char **)field;
		/* Unset: shown commented out, so the file stays loadable. */
		if (str)
			fprintf(out, "%s = %s\n", opt->key, str);
		else
			fprintf(out, ";%s =\n", opt->key);
		return;
	}
}

/* Print every option, grouped under "[section]" lines, with @p line. */
static void config_print_sections(
	const struct iotcar_config_spec *spec, FILE *out,
	void (*line)(const struct iotcar_config_spec *spec,
		     const struct iotcar_option *opt, void *base, FILE *out))
{
	for (size_t g = 0; g < spec->ngroups; g++) {
		const struct iotcar_option_group *grp = &spec->groups[g];
		const char *section = NULL;

		for (size_t i = 0; i < grp->count; i++) {
			const struct iotcar_option *opt = &grp->options[i];

			if (!section || strcmp(section, opt->section) != 0) {
				section = opt->section;
				fprintf(out, "\n[%s]\n", section);
			}
			line(spec, opt, grp->base, out);
		}
	}
}

static void config_print_line(const struct iotcar_config_spec *spec,
			      const struct iotcar_option *opt, void *base,
			      FILE *out)
{
	(void)spec;
	fprintf(out, "; %s%s%s\n", opt->help, opt->env ? "; env " : "",
		opt->env ? opt->env : "");
	config_print_value(opt, base, out);
}

void iotcar_config_print(const struct iotcar_config_spec *spec, FILE *out)
{
	fprintf(out,
		"; %s configuration (INI). Every key is also a long "
		"option:\n; key_name in [section] is --key-name.\n",
		spec->program);
	config_print_sections(spec, out, config_print_line);
	if (spec->print_trailer)
		fputs(spec->print_trailer, out);
}

/* ==== --help ==== */

static void config_help_line(const struct iotcar_config_spec *spec,
			     const struct iotcar_option *opt, void *base,
			     FILE *out)
{
	const char *def = config_default(spec, opt);
	char flag[64];
	char *p;

	(void)base;
	snprintf(flag, sizeof(flag), "--%s%s%s", opt->key,
		 opt->type == IOTCAR_OPT_BOOL ? "" : " ",
		 opt->type == IOTCAR_OPT_BOOL	  ? ""
		 : opt->type == IOTCAR_OPT_CHOICE ? opt->choices
		 : opt->arg			  ? opt->arg
						  : "VALUE");
	for (p = flag; *p && *p != ' '; p++) {
		if (*p == '_')
			*p = '-';
	}
	fprintf(out, "      %-26s %s", flag, opt->help);
	if (def)
		fprintf(out, " (default %s)", def);
	if (opt->env)
		fprintf(out, " [env %s]", opt->env);
	fputc('\n', out);
}

void iotcar_config_print_help(const struct iotcar_config_spec *spec, FILE *out)
{
	fprintf(out, "Usage: %s %s\n%s\n\nOptions:\n", spec->program,
		spec->usage, spec->summary);
	fprintf(out,
		"  -h, --help                     show this help and "
		"exit\n"
		"  -V, --version                  show the version and "
		"exit\n"
		"      --config FILE              read settings from an "
		"INI file; each key is\n"
		"                                 the option's name in "
		"the section shown\n"
		"                                 (default: " IOTCAR_CONFDIR
		"/%s.conf if it exists)\n"
		"      --print-config             print the settings as "
		"such a file and exit\n",
		spec->program);
	config_print_sections(spec, out, config_help_line);
}

/* SPDX-License-Identifier: MIT */
/*
 * config.h: one table of settings per program drives the INI file (through
 * inih), the long options and --help, so a key and its flag can never drift
 * apart: INI key `ttl_ms` in section [limits] is the flag `--ttl-ms`.
 *
 * Precedence, lowest first: the table's default, the --config file, the
 * option's environment variable, the command line.
 *
 * Context: main thread, at start-up.
 */
#ifndef IOTCAR_CONFIG_H
#define IOTCAR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum iotcar_opt_type {
	/* char *, heap-owned by the settings struct; NULL when unset. */
	IOTCAR_OPT_STRING,
	/* int within [min, max]. */
	IOTCAR_OPT_INT,
	/* double within [min, max]. */
	IOTCAR_OPT_DOUBLE,
	/* bool: true/false, yes/no, on/off, 1/0; a bare --flag is true. */
	IOTCAR_OPT_BOOL,
	/* char *, one of the '|'-separated words of `choices`. */
	IOTCAR_OPT_CHOICE,
};

struct iotcar_option {
	/* INI key; the long option is the same with '_' turned into '-'. */
	const char *key;
	/* INI section the key belongs to. */
	const char *section;
	enum iotcar_opt_type type;
	/* Where the value lives in the settings struct. */
	size_t offset;
	/* Default, parsed like user input; NULL leaves a string unset. */
	const char *def;
	double min;
	double max;
	/* IOTCAR_OPT_CHOICE: "sim|gpiod". */
	const char *choices;
	/* Extra check for strings; `check_help` says what is expected. */
	bool (*check)(const char *value);
	const char *check_help;
	/* Environment variable that overrides the file, or NULL. */
	const char *env;
	/* Placeholder shown in --help ("URI", "MS"). */
	const char *arg;
	const char *help;
};

/** One table and the struct its offsets point into. */
struct iotcar_option_group {
	const struct iotcar_option *options;
	size_t count;
	void *base;
};

struct iotcar_config_spec {
	/* Program name, used in messages and --version. */
	const char *program;
	/* Usage line after the program name: "[OPTION]..." */
	const char *usage;
	/* One paragraph for --help. */
	const char *summary;
	const struct iotcar_option_group *groups;
	size_t ngroups;
	/*
	 * Optional: the keys of INI sections no table names (the bridge's
	 * [raw.NAME]). Return 0, or -EINVAL with a message in @p err.
	 */
	int (*section_cb)(void *ctx, const char *section, const char *key,
			  const char *value, char *err, size_t errlen);
	void *section_ctx;
	/* No positional arguments: any is an error (exit 2). */
	bool no_operands;
	/*
	 * Optional, NULL-terminated: "key=value" defaults of this program
	 * that replace the shared table's (pc-console logs only warnings).
	 */
	const char *const *defaults;
	/* Optional: what --print-config adds at the end (examples). */
	const char *print_trailer;
	/* Optional: set to whether the settings came from the installed
	 * /etc/iotcar/<program>.conf (no --config given). */
	bool *read_installed;
};

/** Settings every program shares (protocol §1). */
struct iotcar_common_settings {
	char *broker;
	char *username;
	char *password_file;
	char *cafile;
	char *cert;
	char *key;
	char *client_id;
	int keepalive_s;
	/* "5" or "3.1.1". */
	char *mqtt_version;
	int reconnect_min_ms;
	int reconnect_max_ms;
	char *prefix;
	char *log_level;
};

/** The table of struct iotcar_common_settings. */
extern const struct iotcar_option iotcar_common_options[];
extern const size_t iotcar_common_options_count;

/**
 * @brief Apply defaults, the --config file, environment and command line.
 *
 * Positional arguments are moved, in order, to argv[1..*nargs].
 * --help, --version and --print-config print to stdout.
 *
 * @return 0 when the program should run; 1 when --help, --version or
 * --print-config was handled (exit 0); -EINVAL on a bad flag, key or value,
 * with a one-line message naming it in @p err (exit 2).
 */
int iotcar_config_load(const struct iotcar_config_spec *spec, int argc,
		       char **argv, int *nargs, char *err, size_t errlen);

/** @brief Free every string the settings hold. Safe to call twice. */
void iotcar_config_cleanup(const struct iotcar_config_spec *spec);

/**
 * @brief Print the settings as an INI file a --config can read back: every
 * key with its current value and its help as a comment (--print-config).
 */
void iotcar_config_print(const struct iotcar_config_spec *spec, FILE *out);

/** @brief Print --help for @p spec. */
void iotcar_config_print_help(const struct iotcar_config_spec *spec, FILE *out);

#endif

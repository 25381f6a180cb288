/* SPDX-License-Identifier: MIT */
/*
 * text.h: the checked number and text helpers that replace atoi, strcpy and
 * friends (STYLE.md bans them). Everything that reads a number from a user,
 * a config file or the network goes through here.
 */
#ifndef IOTCAR_TEXT_H
#define IOTCAR_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/**
 * @brief Parse a whole string as a base-10 integer within [min, max].
 * @return 0, -EINVAL when it is not an integer (empty, trailing junk),
 * -ERANGE when it is outside [min, max].
 */
int iotcar_parse_long(const char *text, long min, long max, long *out);

/**
 * @brief Parse a whole string as a finite decimal number within [min, max].
 * @return 0, -EINVAL or -ERANGE as iotcar_parse_long().
 */
int iotcar_parse_double(const char *text, double min, double max, double *out);

/**
 * @brief Parse true/false, yes/no, on/off, 1/0 (any case).
 * @return 0 or -EINVAL.
 */
int iotcar_parse_bool(const char *text, bool *out);

/**
 * @brief True when @p buf holds well-formed UTF-8 with no NUL and no control
 * characters other than tab, CR and LF: text a person could have typed.
 */
bool iotcar_text_is_valid(const void *buf, size_t len);

/**
 * @brief Copy @p src into @p dst of @p size bytes, always terminated.
 * @return 0, or -ENAMETOOLONG when @p src was cut.
 */
int iotcar_strlcpy(char *dst, const char *src, size_t size);

/**
 * @brief Read the first line of a file (a password, a token, a sysfs value),
 * without its line ending, into @p buf.
 * @return 0, -ENAMETOOLONG if it does not fit, -ENODATA if it is empty, or
 * the negative errno of open/read.
 */
int iotcar_read_line(const char *path, char *buf, size_t size);

#endif

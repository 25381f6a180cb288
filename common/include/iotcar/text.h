/* SPDX-License-Identifier: MIT */
/*
 * text.h: the checked number and text helpers that replace atoi, strcpy and
 * friends (STYLE.md bans them). Everything that reads a number from a user,
 * a config file or the network goes through here.
 */
#ifndef IOTCAR_TEXT_H
#define IOTCAR_TEXT_H

#include <stdarg.h>
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
 * @brief The longest prefix of UTF-8 text @p s (@p len bytes, or up to its
 * NUL when @p len is SIZE_MAX) of at most @p max bytes that does not split
 * a character: the precision to echo a request with "%.*s".
 */
int iotcar_utf8_prefix(const char *s, size_t len, size_t max);

/**
 * @brief vsnprintf() for messages that echo UTF-8 text: a message cut to
 * fit @p size is cut between characters, and a failed one is empty.
 */
void iotcar_vformat_text(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/**
 * @brief Does JSON text @p json (@p len bytes) hold the escape \u0000?
 * cJSON decodes it into a NUL inside a string, and every C string function
 * would then read "forward\u0000 junk" as "forward": JSON from the network
 * that holds one is refused instead.
 */
bool iotcar_json_has_nul_escape(const char *json, size_t len);

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

// SPDX-License-Identifier: MIT
/*
 * text.c: checked parsing and copying helpers; see text.h.
 */
#include "iotcar/text.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int iotcar_parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	long v;

	if (!text || !*text)
		return -EINVAL;
	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int iotcar_parse_double(const char *text, double min, double max, double *out)
{
	char *end;
	double v;

	if (!text || !*text)
		return -EINVAL;
	errno = 0;
	v = strtod(text, &end);
	if (end == text || *end != '\0' || isnan(v))
		return -EINVAL;
	if (errno == ERANGE || isinf(v) || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int iotcar_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Length of the UTF-8 sequence starting at s (at most n bytes), 0 if bad. */
static size_t text_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past U+10FFFF. */
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

bool iotcar_text_is_valid(const void *buf, size_t len)
{
	const unsigned char *s = buf;
	size_t i = 0;

	while (i < len) {
		size_t n;

		if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
		if (s[i] == 0x7f)
			return false;
		n = text_utf8_seq(s + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

int iotcar_utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len == SIZE_MAX)
		len = strnlen(s, max + 1);
	if (len <= max)
		return (int)len;
	/* s[max] exists: step back while it continues a character. */
	while (max && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

void iotcar_vformat_text(char *buf, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, size, fmt, ap);

	if (n < 0)
		buf[0] = '\0';
	else if ((size_t)n >= size)
		buf[iotcar_utf8_prefix(buf, (size_t)n, size - 1)] = '\0';
}

int iotcar_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size == 0)
		return -ENAMETOOLONG;
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int iotcar_read_line(const char *path, char *buf, size_t size)
{
	char extra;
	ssize_t n;
	size_t len;
	int ret = 0;
	int fd;

	if (size < 2)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		ret = -errno;
		goto out_close;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	/* A full buffer with no line end may hold only part of the line. */
	if (len == (size_t)n && (size_t)n == size - 1 &&
	    read(fd, &extra, 1) == 1) {
		ret = -ENAMETOOLONG;
		goto out_close;
	}
	buf[len] = '\0';
	if (len == 0)
		ret = -ENODATA;
out_close:
	close(fd);
	return ret;
}

bool iotcar_json_has_nul_escape(const char *json, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (json[i] != '\\')
			continue;
		if (json[i + 1] == 'u' && len - i >= 6 &&
		    !memcmp(json + i + 2, "0000", 4))
			return true;
		/* Skip the escaped character: "\\u0000" is text. */
		i++;
	}
	return false;
}

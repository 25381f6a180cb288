// SPDX-License-Identifier: MIT
/*
 * gpio_v2.c: gpio.h on libgpiod 2.x (Debian 13, Raspberry Pi OS trixie):
 * settings -> line config -> request config -> one request per line, so
 * that each thread owns the requests it uses.
 */
#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpio.h"

struct gpio_line {
	struct gpiod_line_request *req;
	struct gpiod_edge_event_buffer *events;
	unsigned offset;
	bool output;
};

struct gpio_chip *gpio_chip_open(const char *path)
{
	struct gpio_chip *c = calloc(1, sizeof(*c));
	struct gpiod_chip_info *info = NULL;
	int saved;

	if (!c)
		return NULL;
	c->chip = gpiod_chip_open(path);
	if (c->chip)
		info = gpiod_chip_get_info(c->chip);
	if (info) {
		snprintf(c->name, sizeof(c->name), "%s",
			 gpiod_chip_info_get_name(info));
		snprintf(c->label, sizeof(c->label), "%s",
			 gpiod_chip_info_get_label(info));
		c->num_lines = (unsigned)gpiod_chip_info_get_num_lines(info);
		gpiod_chip_info_free(info);
		return c;
	}
	saved = errno;
	if (c->chip)
		gpiod_chip_close(c->chip);
	free(c);
	errno = saved;
	return NULL;
}

int gpio_chip_find(struct gpio_chip *chip, const char *name)
{
	return gpiod_chip_get_line_offset_from_name(chip->chip, name);
}

int gpio_chip_line_info(struct gpio_chip *chip, unsigned offset, char *name,
			size_t namelen, char *consumer, size_t consumerlen)
{
	struct gpiod_line_info *info =
		gpiod_chip_get_line_info(chip->chip, offset);
	const char *s;

	if (!info)
		return -errno;
	s = gpiod_line_info_get_name(info);
	snprintf(name, namelen, "%s", s ? s : "");
	s = gpiod_line_info_get_consumer(info);
	snprintf(consumer, consumerlen, "%s", s ? s : "");
	gpiod_line_info_free(info);
	return 0;
}

/* The settings of @p mode; NULL with errno. */
static struct gpiod_line_settings *gpio_settings(enum gpio_mode mode)
{
	struct gpiod_line_settings *s = gpiod_line_settings_new();
	bool out = mode == GPIO_OUTPUT_LOW;

	if (!s)
		return NULL;
	if (gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_PULL_DOWN) ||
	    gpiod_line_settings_set_direction(
		    s, out ? GPIOD_LINE_DIRECTION_OUTPUT
			   : GPIOD_LINE_DIRECTION_INPUT) ||
	    (out && gpiod_line_settings_set_output_value(
			    s, GPIOD_LINE_VALUE_INACTIVE)) ||
	    (!out &&
	     gpiod_line_settings_set_edge_detection(s, GPIOD_LINE_EDGE_BOTH)) ||
	    (!out && gpiod_line_settings_set_event_clock(
			     s, GPIOD_LINE_CLOCK_MONOTONIC))) {
		gpiod_line_settings_free(s);
		errno = EINVAL;
		return NULL;
	}
	return s;
}

static struct gpiod_line_request *gpio_request_one(struct gpio_chip *chip,
						   unsigned offset,
						   enum gpio_mode mode,
						   const char *consumer)
{
	struct gpiod_line_settings *settings = gpio_settings(mode);
	struct gpiod_line_config *line_cfg = gpiod_line_config_new();
	struct gpiod_request_config *req_cfg = gpiod_request_config_new();
	struct gpiod_line_request *req = NULL;
	int saved = ENOMEM;

	if (settings && line_cfg && req_cfg &&
	    gpiod_line_config_add_line_settings(line_cfg, &offset, 1,
						settings) == 0) {
		gpiod_request_config_set_consumer(req_cfg, consumer);
		req = gpiod_chip_request_lines(chip->chip, req_cfg, line_cfg);
	}
	if (!req && errno)
		saved = errno;
	if (req_cfg)
		gpiod_request_config_free(req_cfg);
	if (line_cfg)
		gpiod_line_config_free(line_cfg);
	if (settings)
		gpiod_line_settings_free(settings);
	errno = saved;
	return req;
}

struct gpio_line *gpio_line_request(struct gpio_chip *chip, unsigned offset,
				    enum gpio_mode mode, const char *consumer)
{
	struct gpio_line *l = calloc(1, sizeof(*l));
	int saved = ENOMEM;

	if (!l)
		return NULL;
	l->offset = offset;
	l->output = mode == GPIO_OUTPUT_LOW;
	errno = 0;
	l->req = gpio_request_one(chip, offset, mode, consumer);
	if (l->req && mode == GPIO_INPUT_EDGES)
		l->events = gpiod_edge_event_buffer_new(1);
	if (l->req && (l->output || l->events))
		return l;
	if (!l->req)
		saved = errno;
	gpio_line_release(l);
	errno = saved;
	return NULL;
}

int gpio_line_set(struct gpio_line *line, int value)
{
	enum gpiod_line_value v =
		value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE;

	return gpiod_line_request_set_value(line->req, line->offset, v) < 0
		       ? -errno
		       : 0;
}

int gpio_line_fd(struct gpio_line *line)
{
	return gpiod_line_request_get_fd(line->req);
}

int gpio_line_read_edge(struct gpio_line *line, bool *rising, int64_t *ns)
{
	struct gpiod_edge_event *ev;

	if (gpiod_line_request_read_edge_events(line->req, line->events, 1) < 1)
		return errno ? -errno : -EIO;
	ev = gpiod_edge_event_buffer_get_event(line->events, 0);
	*rising = gpiod_edge_event_get_event_type(ev) ==
		  GPIOD_EDGE_EVENT_RISING_EDGE;
	*ns = (int64_t)gpiod_edge_event_get_timestamp_ns(ev);
	return 0;
}

void gpio_line_release(struct gpio_line *line)
{
	if (!line)
		return;
	if (line->req && line->output)
		gpio_line_set(line, 0);
	if (line->req)
		gpiod_line_request_release(line->req);
	if (line->events)
		gpiod_edge_event_buffer_free(line->events);
	free(line);
}

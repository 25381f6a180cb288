// SPDX-License-Identifier: MIT
/*
 * gpio_v1.c: gpio.h on libgpiod 1.6 (Debian 12, Raspberry Pi OS
 * bookworm), where a line object is both the line and its request.
 */
#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpio.h"

struct gpio_line {
	struct gpiod_line *line;
	bool output;
};

struct gpio_chip *gpio_chip_open(const char *path)
{
	struct gpio_chip *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->chip = gpiod_chip_open(path);
	if (!c->chip) {
		int saved = errno;

		free(c);
		errno = saved;
		return NULL;
	}
	snprintf(c->name, sizeof(c->name), "%s", gpiod_chip_name(c->chip));
	snprintf(c->label, sizeof(c->label), "%s", gpiod_chip_label(c->chip));
	c->num_lines = gpiod_chip_num_lines(c->chip);
	return c;
}

int gpio_chip_find(struct gpio_chip *chip, const char *name)
{
	struct gpiod_line *line = gpiod_chip_find_line(chip->chip, name);

	return line ? (int)gpiod_line_offset(line) : -1;
}

int gpio_chip_line_info(struct gpio_chip *chip, unsigned offset, char *name,
			size_t namelen, char *consumer, size_t consumerlen)
{
	struct gpiod_line *line = gpiod_chip_get_line(chip->chip, offset);

	if (!line || gpiod_line_update(line) < 0)
		return -errno;
	snprintf(name, namelen, "%s",
		 gpiod_line_name(line) ? gpiod_line_name(line) : "");
	snprintf(consumer, consumerlen, "%s",
		 gpiod_line_consumer(line) ? gpiod_line_consumer(line) : "");
	return 0;
}

struct gpio_line *gpio_line_request(struct gpio_chip *chip, unsigned offset,
				    enum gpio_mode mode, const char *consumer)
{
	struct gpio_line *l = calloc(1, sizeof(*l));
	int flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
	int ret;
	int saved;

	if (!l)
		return NULL;
	l->line = gpiod_chip_get_line(chip->chip, offset);
	l->output = mode == GPIO_OUTPUT_LOW;
	if (!l->line)
		ret = -1;
	else if (l->output)
		ret = gpiod_line_request_output_flags(l->line, consumer, flags,
						      0);
	else
		ret = gpiod_line_request_both_edges_events_flags(
			l->line, consumer, flags);
	if (ret == 0)
		return l;
	saved = errno;
	free(l);
	errno = saved;
	return NULL;
}

int gpio_line_set(struct gpio_line *line, int value)
{
	return gpiod_line_set_value(line->line, value) < 0 ? -errno : 0;
}

int gpio_line_fd(struct gpio_line *line)
{
	return gpiod_line_event_get_fd(line->line);
}

int gpio_line_read_edge(struct gpio_line *line, bool *rising, int64_t *ns)
{
	struct gpiod_line_event ev;

	if (gpiod_line_event_read(line->line, &ev) < 0)
		return -errno;
	*rising = ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE;
	*ns = (int64_t)ev.ts.tv_sec * 1000000000 + ev.ts.tv_nsec;
	return 0;
}

void gpio_line_release(struct gpio_line *line)
{
	if (!line)
		return;
	if (line->output)
		gpiod_line_set_value(line->line, 0);
	gpiod_line_release(line->line);
	free(line);
}

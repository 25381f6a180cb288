/* SPDX-License-Identifier: MIT */
/*
 * gpio.h: the few GPIO operations the car needs, one interface over
 * libgpiod 1.6 (gpio_v1.c, Debian 12) and libgpiod 2.x (gpio_v2.c,
 * Debian 13); CMake builds the one that pkg-config reports. gpio.c holds
 * what both share: finding the chip and a line, and every error message.
 *
 * A struct gpio_line is one requested line. It belongs to one thread at a
 * time (libgpiod 2's requests are not thread-safe); the chip belongs to
 * the thread that opened it.
 */
#ifndef IOTCAR_GPIO_H
#define IOTCAR_GPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gpiod_chip;
struct gpio_line;

/* An open chip: libgpiod's, and what gpiodetect says of it. */
struct gpio_chip {
	struct gpiod_chip *chip;
	/* "gpiochip0" */
	char name[32];
	char label[64];
	unsigned num_lines;
};

enum gpio_mode {
	/* An output, driven low from the request on, pulled down. */
	GPIO_OUTPUT_LOW,
	/* An input with both edges' events, pulled down. */
	GPIO_INPUT_EDGES,
};

/**
 * @brief Open the chip @p spec: a path (/dev/gpiochip0), a name
 * (gpiochip0), a number (0) or a label (pinctrl-rp1). NULL or empty: the
 * first chip on which every name among @p lines is a line's name (offsets
 * and NULLs are skipped). On failure @p err says why and what to run.
 * Close it with gpio_chip_close().
 */
struct gpio_chip *gpio_open_chip(const char *spec, const char *const *lines,
				 size_t nlines, char *err, size_t errlen);

/**
 * @brief The offset of the line @p spec (an offset or a line name) of the
 * config key @p key. Returns 0, or -ENOENT with @p err.
 */
int gpio_find_line(struct gpio_chip *chip, const char *key, const char *spec,
		   unsigned *offset, char *err, size_t errlen);

/**
 * @brief Request line @p offset as @p mode for @p consumer. On failure
 * @p err names @p key, the line and, for EBUSY, who holds it. Release it
 * with gpio_line_release(), from the thread that uses it.
 */
struct gpio_line *gpio_request(struct gpio_chip *chip, const char *key,
			       unsigned offset, enum gpio_mode mode,
			       const char *consumer, char *err, size_t errlen);

/**
 * @brief Whether this kernel keeps outputs driven after their release: a
 * module parameter persist_gpio_outputs that reads Y under @p sys_module
 * (/sys/module: Raspberry Pi kernels, pinctrl_bcm2835 and pinctrl_rp1,
 * unless dtparam=strict_gpiod). Its path goes in @p param.
 */
bool gpio_outputs_persist(const char *sys_module, char *param, size_t paramlen);

/** @brief How many /dev/gpiochip* this machine has. */
int gpio_count_chips(void);

/*
 * Close the chip (gpio.c); NULL is ignored. Release its lines first:
 * libgpiod 1.6 frees them with the chip, without setting them low.
 */
void gpio_chip_close(struct gpio_chip *chip);

/* ==== Implemented once per libgpiod version ==== */

/* Open @p path; NULL with errno. */
struct gpio_chip *gpio_chip_open(const char *path);
/* The offset of the line named @p name, or -1. */
int gpio_chip_find(struct gpio_chip *chip, const char *name);
/*
 * What the kernel says of line @p offset now: its name and consumer
 * (empty when it has none). Returns 0 or -errno.
 */
int gpio_chip_line_info(struct gpio_chip *chip, unsigned offset, char *name,
			size_t namelen, char *consumer, size_t consumerlen);

/* Request one line; NULL with errno. */
struct gpio_line *gpio_line_request(struct gpio_chip *chip, unsigned offset,
				    enum gpio_mode mode, const char *consumer);
/* Set an output; 0 or -errno. */
int gpio_line_set(struct gpio_line *line, int value);
/* The fd that polls readable when an edge event waits. */
int gpio_line_fd(struct gpio_line *line);
/* Read one edge event: rising or not, and its CLOCK_MONOTONIC time. */
int gpio_line_read_edge(struct gpio_line *line, bool *rising, int64_t *ns);
/* Release the line; an output is set low first. NULL is ignored. */
void gpio_line_release(struct gpio_line *line);

#endif

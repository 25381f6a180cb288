// SPDX-License-Identifier: MIT
/*
 * gpio.c: the part of gpio.h that does not depend on libgpiod's version —
 * finding the chip by path, name, number, label or the lines' names, a
 * line by offset or name, and the errors that say what to do.
 *
 * A chip is never found by a fixed number: on a Raspberry Pi 5 the
 * header's chip has been gpiochip4, then gpiochip0, and is gpiochip11–15
 * on recent kernels. Its label (pinctrl-rp1 on a Pi 5, pinctrl-bcm2711 on
 * a Pi 4) and its lines' names (GPIO17) do not move.
 */
#include "gpio.h"

#include <dirent.h>
#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotcar/text.h"

static void gpio_permission_error(const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "%s: permission denied. Run as root, or add the user to the "
		 "'gpio' group (Raspberry Pi OS: sudo usermod -aG gpio $USER, "
		 "then log in again); elsewhere install the udev rule "
		 "(docs/hardware.md)",
		 what);
}

void gpio_chip_close(struct gpio_chip *chip)
{
	if (!chip)
		return;
	gpiod_chip_close(chip->chip);
	free(chip);
}

bool gpio_outputs_persist(const char *sys_module, char *param, size_t paramlen)
{
	DIR *dir = opendir(sys_module);
	struct dirent *d;
	bool persist = false;

	while (dir && !persist && (d = readdir(dir))) {
		FILE *f;
		int c;

		if (d->d_name[0] == '.')
			continue;
		snprintf(param, paramlen,
			 "%s/%s/parameters/persist_gpio_outputs", sys_module,
			 d->d_name);
		f = fopen(param, "r");
		if (!f)
			continue;
		c = fgetc(f);
		persist = c == 'Y' || c == 'y' || c == '1';
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return persist;
}

static int gpio_is_chip_entry(const struct dirent *d)
{
	return !strncmp(d->d_name, "gpiochip", 8);
}

int gpio_count_chips(void)
{
	struct dirent **names;
	int n = scandir("/dev", &names, gpio_is_chip_entry, NULL);

	for (int i = 0; i < n; i++)
		free(names[i]);
	if (n >= 0)
		free(names);
	return n < 0 ? 0 : n;
}

/* Every name among @p lines is a line of @p chip. */
static bool gpio_has_lines(struct gpio_chip *chip, const char *const *lines,
			   size_t nlines)
{
	for (size_t i = 0; i < nlines; i++) {
		long n;

		if (!lines[i] || iotcar_parse_long(lines[i], 0, 65535, &n) == 0)
			continue;
		if (gpio_chip_find(chip, lines[i]) < 0)
			return false;
	}
	return true;
}

/*
 * Walk /dev/gpiochip* in version order for the chip labelled @p label, or
 * (@p label NULL) the one with every named line of @p lines.
 */
static struct gpio_chip *gpio_walk(const char *label, const char *const *lines,
				   size_t nlines, int *denied)
{
	struct dirent **names;
	struct gpio_chip *found = NULL;
	int n = scandir("/dev", &names, gpio_is_chip_entry, versionsort);

	for (int i = 0; i < n; i++) {
		char path[300];
		struct gpio_chip *chip;

		snprintf(path, sizeof(path), "/dev/%s", names[i]->d_name);
		chip = found ? NULL : gpio_chip_open(path);
		if (!chip && (errno == EACCES || errno == EPERM))
			(*denied)++;
		if (chip && (label ? !strcmp(chip->label, label)
				   : gpio_has_lines(chip, lines, nlines)))
			found = chip;
		else if (chip)
			gpio_chip_close(chip);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return found;
}

/* The line names among @p lines, for a message: "GPIO17, GPIO27". */
static void gpio_names(const char *const *lines, size_t nlines, char *out,
		       size_t outlen)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < nlines && len < outlen; i++) {
		long n;

		if (!lines[i] || iotcar_parse_long(lines[i], 0, 65535, &n) == 0)
			continue;
		len += (size_t)snprintf(out + len, outlen - len, "%s%s",
					len ? ", " : "", lines[i]);
	}
}

struct gpio_chip *gpio_open_chip(const char *spec, const char *const *lines,
				 size_t nlines, char *err, size_t errlen)
{
	struct gpio_chip *chip;
	char path[300];
	char what[600];
	char names[200];
	long num;
	int denied = 0;
	bool walked = false;
	int len;

	gpio_names(lines, nlines, names, sizeof(names));
	if (!spec || !*spec) {
		if (!*names) {
			snprintf(err, errlen,
				 "no GPIO chip configured, and the [gpio] "
				 "lines are offsets: set chip to the chip's "
				 "label (gpiodetect lists them; a Pi 5 is "
				 "pinctrl-rp1, a Pi 4 pinctrl-bcm2711)");
			return NULL;
		}
		chip = gpio_walk(NULL, lines, nlines, &denied);
		walked = true;
		snprintf(what, sizeof(what), "a GPIO chip with lines %s",
			 names);
	} else if (strchr(spec, '/') || !strncmp(spec, "gpiochip", 8) ||
		   iotcar_parse_long(spec, 0, 65535, &num) == 0) {
		if (strchr(spec, '/'))
			snprintf(path, sizeof(path), "%s", spec);
		else if (spec[0] == 'g')
			snprintf(path, sizeof(path), "/dev/%s", spec);
		else
			snprintf(path, sizeof(path), "/dev/gpiochip%ld", num);
		chip = gpio_chip_open(path);
		denied = !chip && (errno == EACCES || errno == EPERM);
		snprintf(what, sizeof(what), "GPIO chip '%s'", spec);
	} else {
		chip = gpio_walk(spec, NULL, 0, &denied);
		walked = true;
		snprintf(what, sizeof(what), "GPIO chip '%s'", spec);
	}
	if (chip)
		return chip;
	if (denied && !walked) {
		gpio_permission_error(what, err, errlen);
		return NULL;
	}
	/* A walk that could not open every chip says both. */
	len = snprintf(
		err, errlen,
		"%s not found; gpiodetect lists the chips of this machine "
		"and their labels, gpioinfo their lines",
		what);
	if ((!spec || !*spec) && (size_t)len < errlen)
		len += snprintf(err + len, errlen - (size_t)len,
				" (on a Pi some are named for what they do, "
				"GPIO14 is TXD1 on a Pi 4: then set chip to "
				"the label and give offsets)");
	if (denied && (size_t)len < errlen)
		snprintf(err + len, errlen - (size_t)len,
			 ". %d chip%s could not be opened: permission denied; "
			 "add the user to the 'gpio' group (docs/hardware.md)",
			 denied, denied > 1 ? "s" : "");
	return NULL;
}

int gpio_find_line(struct gpio_chip *chip, const char *key, const char *spec,
		   unsigned *offset, char *err, size_t errlen)
{
	long n;
	int found;

	if (iotcar_parse_long(spec, 0, 65535, &n) == 0) {
		if ((unsigned)n < chip->num_lines) {
			*offset = (unsigned)n;
			return 0;
		}
		snprintf(err, errlen,
			 "%s: line %ld does not exist on %s (%u lines)", key, n,
			 chip->name, chip->num_lines);
		return -ENOENT;
	}
	found = gpio_chip_find(chip, spec);
	if (found >= 0) {
		*offset = (unsigned)found;
		return 0;
	}
	snprintf(err, errlen,
		 "%s: no line named '%s' on %s (gpioinfo lists them)", key,
		 spec, chip->name);
	return -ENOENT;
}

struct gpio_line *gpio_request(struct gpio_chip *chip, const char *key,
			       unsigned offset, enum gpio_mode mode,
			       const char *consumer, char *err, size_t errlen)
{
	struct gpio_line *line =
		gpio_line_request(chip, offset, mode, consumer);
	int ret = errno;
	char name[64] = "";
	char holder[64] = "";

	if (line)
		return line;
	gpio_chip_line_info(chip, offset, name, sizeof(name), holder,
			    sizeof(holder));
	if (ret == EBUSY)
		snprintf(err, errlen,
			 "%s: line %u (%s) of %s is busy (EBUSY), held by "
			 "'%s'; stop that program or choose another line "
			 "(gpioinfo shows who holds what)",
			 key, offset, *name ? name : "unnamed", chip->name,
			 *holder ? holder : "the kernel");
	else if (ret == EACCES || ret == EPERM)
		gpio_permission_error(key, err, errlen);
	else
		snprintf(err, errlen,
			 "%s: cannot request line %u (%s) of %s: %s", key,
			 offset, *name ? name : "unnamed", chip->name,
			 strerror(ret));
	return NULL;
}

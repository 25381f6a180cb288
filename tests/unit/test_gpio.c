// SPDX-License-Identifier: MIT
/*
 * test_gpio.c: gpio.c's check for a kernel that keeps released outputs
 * driven, on a made-up /sys/module. (Chips and lines are tested on the
 * kernel's gpio-sim: tests/vm/checks.sh.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpio.h"
#include "test.h"

static char root[] = "/tmp/iotcar-test-gpio-XXXXXX";

/* Write @p value as /sys/module/<module>/parameters/<param>. */
static void param(const char *module, const char *name, const char *value)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, module);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/parameters", root, module);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/parameters/%s", root, module, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(value, f);
	fclose(f);
}

static void persist_only_when_a_parameter_says_y(void)
{
	char found[512];

	CHECK(mkdtemp(root) != NULL);
	/* Debian's kernel: no such parameter. */
	param("gpiolib", "other", "Y\n");
	CHECK(!gpio_outputs_persist(root, found, sizeof(found)));
	/* Raspberry Pi OS with dtparam=strict_gpiod. */
	param("pinctrl_bcm2835", "persist_gpio_outputs", "N\n");
	CHECK(!gpio_outputs_persist(root, found, sizeof(found)));
	/* Raspberry Pi OS as shipped (a Pi 5's RP1). */
	param("pinctrl_rp1", "persist_gpio_outputs", "Y\n");
	CHECK(gpio_outputs_persist(root, found, sizeof(found)));
	CHECK(strstr(found, "pinctrl_rp1/parameters/persist_gpio_outputs"));
	/* No /sys/module at all. */
	CHECK(!gpio_outputs_persist("/nonexistent", found, sizeof(found)));
	snprintf(found, sizeof(found), "rm -rf '%s'", root);
	CHECK_INT(system(found), 0);
}

static const struct test_case cases[] = {
	{"persist_only_when_a_parameter_says_y",
	 persist_only_when_a_parameter_says_y},
};

TEST_MAIN(cases)

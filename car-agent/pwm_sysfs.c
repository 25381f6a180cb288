// SPDX-License-Identifier: MIT
/*
 * pwm_sysfs.c: a kernel PWM channel through sysfs; see pwm_sysfs.h.
 * The kernel's documentation (Documentation/driver-api/pwm.rst) is the
 * interface: write the channel's number to export, then period and
 * duty_cycle in nanoseconds, then 1 to enable.
 */
#include "pwm_sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pwm_sysfs {
	/* /sys/class/pwm/pwmchipN */
	char chip[256];
	int channel;
	/* The channel's directory, pwmM under chip. */
	char dir[280];
	long period_ns;
	long duty_ns;
};

bool pwm_sysfs_spec(const char *spec, int *chip, int *channel)
{
	size_t n = strlen(PWM_SYSFS_PREFIX);
	char *end;
	long c;
	long ch;

	if (!spec || strncmp(spec, PWM_SYSFS_PREFIX, n) != 0)
		return false;
	errno = 0;
	c = strtol(spec + n, &end, 10);
	if (end == spec + n || *end != ':' || errno || c < 0 || c > 9999)
		return false;
	spec = end + 1;
	ch = strtol(spec, &end, 10);
	if (end == spec || *end || errno || ch < 0 || ch > 9999)
		return false;
	*chip = (int)c;
	*channel = (int)ch;
	return true;
}

/* Write @p value to @p dir/@p file: 0 or -errno. */
static int pwm_write(const char *dir, const char *file, long value)
{
	char path[320];
	char text[24];
	int n = snprintf(text, sizeof(text), "%ld", value);
	int fd;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

static long pwm_read(const char *dir, const char *file)
{
	char path[320];
	char text[24] = "";
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(text, sizeof(text), f))
		v = strtol(text, NULL, 10);
	fclose(f);
	return v;
}

/* Export the channel and wait (up to 1 s) for udev to hand it over. */
static int pwm_export(struct pwm_sysfs *p, char *err, size_t errlen)
{
	struct timespec nap = {.tv_nsec = 10000000};
	char period[300];
	int ret = 0;

	if (access(p->dir, F_OK) != 0) {
		ret = pwm_write(p->chip, "export", p->channel);
		/* EBUSY: exported already, by us before a crash maybe. */
		if (ret && ret != -EBUSY) {
			snprintf(err, errlen,
				 ret == -EACCES
					 ? "%s/export: permission denied: join "
					   "the group that owns it (Raspberry "
					   "Pi "
					   "OS: gpio)"
					 : "%s/export: %s",
				 p->chip, strerror(-ret));
			return ret;
		}
	}
	/* udev changes the new files' group a moment later. */
	snprintf(period, sizeof(period), "%s/period", p->dir);
	for (int i = 0; i < 100; i++) {
		if (access(period, W_OK) == 0)
			return 0;
		nanosleep(&nap, NULL);
	}
	snprintf(err, errlen, "%s: %s after the export", period,
		 strerror(errno));
	return -EACCES;
}

struct pwm_sysfs *pwm_sysfs_open(const char *root, int chip, int channel,
				 int hz, char *err, size_t errlen)
{
	struct pwm_sysfs *p = calloc(1, sizeof(*p));
	long npwm;
	int ret;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(p->chip, sizeof(p->chip), "%s/pwmchip%d", root, chip);
	snprintf(p->dir, sizeof(p->dir), "%s/pwm%d", p->chip, channel);
	p->channel = channel;
	p->period_ns = 1000000000L / hz;
	if (access(p->chip, F_OK) != 0) {
		snprintf(err, errlen,
			 "%s does not exist: enable the PWM (a Pi 4: "
			 "dtoverlay=pwm-2chan in config.txt; a PCA9685: the "
			 "pwm-pca9685 driver); ls %s lists the chips",
			 p->chip, root);
		goto fail;
	}
	npwm = pwm_read(p->chip, "npwm");
	if (npwm >= 0 && channel >= npwm) {
		snprintf(err, errlen, "pwmchip%d has %ld channels: 0 to %ld",
			 chip, npwm, npwm - 1);
		goto fail;
	}
	if (pwm_export(p, err, errlen))
		goto fail;
	/* Duty 0 before the period (a period below the duty is refused),
	 * which a channel without a period yet refuses: then after it. */
	(void)pwm_write(p->dir, "duty_cycle", 0);
	ret = pwm_write(p->dir, "period", p->period_ns);
	if (!ret)
		ret = pwm_write(p->dir, "duty_cycle", 0);
	if (!ret)
		ret = pwm_write(p->dir, "enable", 1);
	if (ret) {
		snprintf(err, errlen, "%s: setting %d Hz: %s", p->dir, hz,
			 strerror(-ret));
		pwm_sysfs_close(p);
		return NULL;
	}
	return p;

fail:
	free(p);
	return NULL;
}

int pwm_sysfs_set_pulse_us(struct pwm_sysfs *p, int us)
{
	long ns = (long)us * 1000;
	int ret;

	if (ns > p->period_ns)
		ns = p->period_ns;
	if (ns == p->duty_ns)
		return 0;
	ret = pwm_write(p->dir, "duty_cycle", ns);
	if (!ret)
		p->duty_ns = ns;
	return ret;
}

void pwm_sysfs_close(struct pwm_sysfs *p)
{
	if (!p)
		return;
	/* Each whatever the one before did: a channel left pulsing is the
	 * worst of the outcomes. */
	(void)pwm_write(p->dir, "duty_cycle", 0);
	(void)pwm_write(p->dir, "enable", 0);
	(void)pwm_write(p->chip, "unexport", p->channel);
	free(p);
}

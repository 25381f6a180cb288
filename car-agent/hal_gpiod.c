// SPDX-License-Identifier: MIT
/*
 * hal_gpiod.c: the hardware backend of hal.h — the car's outputs on
 * libgpiod lines (gpio.h, libgpiod 1.6 or 2.x) or PCA9685 channels
 * (pca9685.h), its distance sensor on libgpiod — and the only file that
 * knows pin numbers exist.
 *
 * Outputs: motor.h turns the wanted outputs into a level per pin (a duty
 * in 1/4096) or a pulse width per servo. libgpiod has no PWM, so one
 * thread owns the GPIO output lines and runs software PWM on those with a
 * level between off and full; the loop thread only posts the levels and
 * wakes it, so a command reaches the pins in microseconds, not at the
 * next PWM period. PCA9685 channels are written by the loop thread itself
 * (an I2C write takes about 0.3 ms), and so are servos on a kernel PWM
 * channel (/sys/class/pwm). Servos and ESCs need one of those two:
 * software PWM jitters by tens of µs, 5 % of a servo's range.
 *
 * Distance: an HC-SR04 on a trigger line and an echo line. A second thread
 * triggers it about 15 times a second and times the echo pulse with the
 * kernel's edge-event timestamps, so scheduling delays do not skew the
 * measurement; readings pass the median-of-3 filter and wake the loop
 * through an eventfd.
 *
 * Every output is requested low with a pull-down, set low before release,
 * and released on every exit path; every PCA9685 channel is switched off.
 * Each thread owns the lines it uses.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gpio.h"
#include "hal.h"
#include "pca9685.h"
#include "pwm_sysfs.h"
#include "sensors.h"

/* The lines: the outputs of hal.h, then the sensor's. */
enum gpiod_role {
	ROLE_TRIGGER = HAL_OUTPUTS,
	ROLE_ECHO,
	ROLE_COUNT,
};

const char *const hal_output_keys[HAL_OUTPUTS] = {
	"left_in1", "left_in2", "left_en",  "right_in1", "right_in2",
	"right_en", "stby",	"steering", "throttle",
};

static const char *gpiod_role_key(int role)
{
	return role < HAL_OUTPUTS     ? hal_output_keys[role]
	       : role == ROLE_TRIGGER ? "trigger"
				      : "echo";
}

struct hal_gpiod {
	struct hal hal;
	enum motor_drivetrain drivetrain;
	enum motor_driver driver;
	bool brake;
	struct motor_pulse steering;
	struct motor_pulse throttle;
	/* NULL when no line is on GPIO. */
	struct gpio_chip *chip;
	/* The requested lines; NULL for those not (yet) requested. */
	struct gpio_line *lines[ROLE_COUNT];
	unsigned offsets[ROLE_COUNT];
	/* Each output's PCA9685 channels, a mask (0: none); the chip when
	 * any. */
	unsigned channels[HAL_OUTPUTS];
	struct pca9685 *pca;
	/* Servos on kernel PWM channels; NULL for the others. */
	struct pwm_sysfs *pwm[HAL_OUTPUTS];
	bool has_sensor;
	int pwm_hz;
	int sensor_hz;
	int echo_timeout_ms;

	pthread_mutex_t lock;
	/* Signalled on a new command or quit; waits use CLOCK_MONOTONIC. */
	pthread_cond_t cond;
	/* Each output's level (0..MOTOR_LEVEL_FULL) or pulse (µs), as last
	 * set. Written under lock by the loop thread, its only writer, which
	 * may therefore read it without. */
	int want[HAL_OUTPUTS];
	bool changed;
	bool quit;
	/* First errno a thread hit writing a line; under lock. */
	int fault;
	pthread_t pwm_thread;
	bool pwm_started;

	pthread_t sensor_thread;
	bool sensor_started;
	/* eventfd that tells the sensor thread to stop. */
	int stop_fd;
	/* Latest filtered reading; under lock. */
	bool reading_valid;
	double reading_cm;
	struct sensors_median median;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000,
			      .tv_nsec = ns % 1000000000};
	return ts;
}

static void gpiod_fault(struct hal_gpiod *g, int err)
{
	if (!g->fault)
		g->fault = err ? err : EIO;
}

/* ==== Outputs: the PWM thread owns the GPIO output lines ==== */

static void pwm_set(struct hal_gpiod *g, int role, int value)
{
	int ret = gpio_line_set(g->lines[role], value);

	if (ret)
		gpiod_fault(g, -ret);
}

/*
 * Wait until @p deadline_ns or a new command. Returns true when the period
 * must restart (new command or quit). Called with the lock held.
 */
static bool pwm_wait(struct hal_gpiod *g, int64_t deadline_ns)
{
	struct timespec ts = ns_ts(deadline_ns);

	while (!g->changed && !g->quit) {
		if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) ==
		    ETIMEDOUT)
			return false;
	}
	return true;
}

static bool pwm_is_partial(int level)
{
	return level > 0 && level < MOTOR_LEVEL_FULL;
}

/*
 * One PWM period from @p start; returns early on a new command. Lock held.
 * Periods follow each other on a fixed grid, so a late wake-up shortens
 * the low time after it instead of stretching every period: the duty and
 * the frequency stay right on a busy machine.
 */
static void pwm_period(struct hal_gpiod *g, const int level[HAL_OUTPUTS],
		       int64_t start, int64_t period)
{
	int order[HAL_OUTPUTS];
	int n = 0;

	for (int r = 0; r < HAL_OUTPUTS; r++) {
		if (!g->lines[r])
			continue;
		pwm_set(g, r, level[r] > 0);
		if (!pwm_is_partial(level[r]))
			continue;
		/* Insertion by level: the shortest pulse ends first. */
		int i = n++;

		for (; i > 0 && level[order[i - 1]] > level[r]; i--)
			order[i] = order[i - 1];
		order[i] = r;
	}
	for (int i = 0; i < n; i++) {
		int64_t off =
			start + period * level[order[i]] / MOTOR_LEVEL_FULL;

		/* Already late: no wait, which would make it later still. */
		if (now_ns() < off && pwm_wait(g, off))
			return;
		pwm_set(g, order[i], 0);
	}
	pwm_wait(g, start + period);
}

static void *pwm_main(void *arg)
{
	struct hal_gpiod *g = arg;
	int applied[HAL_OUTPUTS] = {0};
	int64_t period = 1000000000LL / g->pwm_hz;
	int64_t start = now_ns();

	pthread_mutex_lock(&g->lock);
	while (!g->quit) {
		bool partial = false;

		if (g->changed) {
			g->changed = false;
			start = now_ns();
			/* What goes down goes down first: an enable off
			 * before the direction flips, an input off before
			 * the other one comes on. */
			for (int r = 0; r < HAL_OUTPUTS; r++) {
				if (g->lines[r] && g->want[r] < applied[r])
					pwm_set(g, r, 0);
				applied[r] = g->want[r];
			}
		}
		for (int r = 0; r < HAL_OUTPUTS; r++)
			partial = partial ||
				  (g->lines[r] && pwm_is_partial(applied[r]));
		if (!partial) {
			/* Nothing to modulate: set the levels and sleep. */
			for (int r = 0; r < HAL_OUTPUTS; r++) {
				if (g->lines[r])
					pwm_set(g, r, applied[r] > 0);
			}
			while (!g->changed && !g->quit)
				pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		pwm_period(g, applied, start, period);
		start += period;
		/* A whole period behind (a stall): a new grid, not a burst. */
		if (now_ns() - start > period)
			start = now_ns();
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Each output's level (0..MOTOR_LEVEL_FULL) or, for a servo, pulse (µs). */
static void gpiod_levels(const struct hal_gpiod *g,
			 const struct motor_outputs *out,
			 int level[HAL_OUTPUTS])
{
	memset(level, 0, sizeof(level[0]) * HAL_OUTPUTS);
	motor_levels(g->driver, out->left, g->brake, &level[HAL_LEFT_IN1]);
	if (g->drivetrain == MOTOR_DIFFERENTIAL)
		motor_levels(g->driver, out->right, g->brake,
			     &level[HAL_RIGHT_IN1]);
	level[HAL_STBY] = out->standby ? 0 : MOTOR_LEVEL_FULL;
	level[HAL_STEERING] = motor_pulse_us(&g->steering, out->steer);
	level[HAL_THROTTLE] = motor_pulse_us(&g->throttle, out->left);
}

/* The kernel PWM channels, then the PCA9685's, those going down first;
 * the first error. */
static int gpiod_set_channels(struct hal_gpiod *g, const int level[])
{
	int ret = 0;

	for (int r = HAL_STEERING; r < HAL_OUTPUTS; r++) {
		int err = g->pwm[r]
				  ? pwm_sysfs_set_pulse_us(g->pwm[r], level[r])
				  : 0;

		ret = ret ? ret : err;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int r = 0; r < HAL_OUTPUTS; r++) {
			if ((pass == 0) != (level[r] < g->want[r]))
				continue;
			for (int ch = 0; ch < PCA9685_CHANNELS; ch++) {
				int err;

				if (!(g->channels[r] & 1u << ch))
					continue;
				err = r >= HAL_STEERING
					      ? pca9685_set_pulse_us(g->pca, ch,
								     level[r])
					      : pca9685_set_level(g->pca, ch,
								  level[r]);
				ret = ret ? ret : err;
			}
		}
	}
	return ret;
}

static int gpiod_set_outputs(struct hal *hal, const struct motor_outputs *out)
{
	struct hal_gpiod *g = (struct hal_gpiod *)hal;
	int level[HAL_OUTPUTS];
	int ret = 0;
	int fault;

	gpiod_levels(g, out, level);
	ret = gpiod_set_channels(g, level);
	pthread_mutex_lock(&g->lock);
	if (memcmp(g->want, level, sizeof(level)) != 0) {
		memcpy(g->want, level, sizeof(level));
		g->changed = true;
		pthread_cond_broadcast(&g->cond);
	}
	fault = g->fault;
	pthread_mutex_unlock(&g->lock);
	return ret ? ret : fault ? -fault : 0;
}

/* ==== Distance: the sensor thread owns trigger and echo ==== */

/* Wait for an echo edge, @p rising or not, until @p deadline_ns. */
static int sensor_edge(struct hal_gpiod *g, bool rising, int64_t deadline_ns,
		       int64_t *ts)
{
	struct gpio_line *echo = g->lines[ROLE_ECHO];
	struct pollfd pfd[2] = {
		{.fd = gpio_line_fd(echo), .events = POLLIN},
		{.fd = g->stop_fd, .events = POLLIN},
	};

	for (;;) {
		int64_t left = deadline_ns - now_ns();
		bool was_rising;
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(pfd, 2, (int)((left + 999999) / 1000000));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (pfd[1].revents)
			return -ECANCELED;
		if (n <= 0 || !pfd[0].revents)
			continue;
		n = gpio_line_read_edge(echo, &was_rising, ts);
		if (n)
			return n;
		if (was_rising == rising)
			return 0;
	}
}

/* Throw away edges left from an earlier cycle. */
static void sensor_drain(struct hal_gpiod *g)
{
	struct gpio_line *echo = g->lines[ROLE_ECHO];
	struct pollfd pfd = {.fd = gpio_line_fd(echo), .events = POLLIN};
	bool rising;
	int64_t ts;

	while (poll(&pfd, 1, 0) == 1 &&
	       gpio_line_read_edge(echo, &rising, &ts) == 0)
		;
}

/* One measurement: 0 with *cm, -ERANGE/-ETIMEDOUT for none, -ECANCELED. */
static int sensor_measure(struct hal_gpiod *g, double *cm)
{
	struct timespec pulse = {.tv_nsec = 10000};
	int64_t rise;
	int64_t fall;
	int ret;

	sensor_drain(g);
	ret = gpio_line_set(g->lines[ROLE_TRIGGER], 1);
	if (ret)
		return ret;
	/* The HC-SR04 wants a trigger pulse of at least 10 µs. */
	clock_nanosleep(CLOCK_MONOTONIC, 0, &pulse, NULL);
	ret = gpio_line_set(g->lines[ROLE_TRIGGER], 0);
	if (ret)
		return ret;
	ret = sensor_edge(g, true, now_ns() + g->echo_timeout_ms * 1000000LL,
			  &rise);
	if (ret)
		return ret;
	ret = sensor_edge(g, false, now_ns() + g->echo_timeout_ms * 1000000LL,
			  &fall);
	if (ret)
		return ret;
	return sensors_echo_to_cm(fall - rise, cm) ? 0 : -ERANGE;
}

static void sensor_publish(struct hal_gpiod *g, bool valid, double cm)
{
	uint64_t one = 1;
	double out = 0.0;

	pthread_mutex_lock(&g->lock);
	g->reading_valid = sensors_median_push(&g->median, valid, cm, &out);
	g->reading_cm = out;
	pthread_mutex_unlock(&g->lock);
	if (write(g->hal.event_fd, &one, sizeof(one)) < 0) {
		/* Counter already set: the loop will read the latest. */
	}
}

static void *sensor_main(void *arg)
{
	struct hal_gpiod *g = arg;
	int64_t period = 1000000000LL / g->sensor_hz;
	int64_t next = now_ns();
	struct pollfd stop = {.fd = g->stop_fd, .events = POLLIN};

	for (;;) {
		double cm = 0.0;
		int ret = sensor_measure(g, &cm);
		int64_t wait;

		if (ret == -ECANCELED)
			break;
		if (ret && ret != -ETIMEDOUT && ret != -ERANGE) {
			pthread_mutex_lock(&g->lock);
			gpiod_fault(g, -ret);
			pthread_mutex_unlock(&g->lock);
		}
		sensor_publish(g, ret == 0, cm);
		next += period;
		wait = next - now_ns();
		if (wait < 0) {
			next = now_ns();
			wait = 0;
		}
		if (poll(&stop, 1, (int)(wait / 1000000)) > 0)
			break;
	}
	return NULL;
}

static int gpiod_read_distance(struct hal *hal, double *cm)
{
	struct hal_gpiod *g = (struct hal_gpiod *)hal;
	uint64_t count;
	bool valid;

	if (read(hal->event_fd, &count, sizeof(count)) < 0) {
		/* Nothing new: answer with the latest. */
	}
	pthread_mutex_lock(&g->lock);
	valid = g->reading_valid;
	*cm = g->reading_cm;
	pthread_mutex_unlock(&g->lock);
	return valid ? 0 : -ENODATA;
}

/* ==== Opening and closing ==== */

static void gpiod_all_low_and_release(struct hal_gpiod *g)
{
	/* The enables first: both motors off before any direction line
	 * goes low (IN1 = IN2 with the enable high brakes an L298N); then
	 * standby, then the rest. */
	static const int order[ROLE_COUNT] = {
		HAL_LEFT_EN,  HAL_RIGHT_EN,  HAL_STBY,	    HAL_LEFT_IN1,
		HAL_LEFT_IN2, HAL_RIGHT_IN1, HAL_RIGHT_IN2, HAL_STEERING,
		HAL_THROTTLE, ROLE_TRIGGER,  ROLE_ECHO,
	};

	for (int i = 0; i < ROLE_COUNT; i++) {
		gpio_line_release(g->lines[order[i]]);
		g->lines[order[i]] = NULL;
	}
}

static void gpiod_close(struct hal *hal)
{
	struct hal_gpiod *g = (struct hal_gpiod *)hal;
	uint64_t one = 1;

	pthread_mutex_lock(&g->lock);
	g->quit = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (g->stop_fd >= 0 && write(g->stop_fd, &one, sizeof(one)) < 0) {
		/* Cannot fail on an eventfd below its maximum. */
	}
	if (g->pwm_started)
		pthread_join(g->pwm_thread, NULL);
	if (g->sensor_started)
		pthread_join(g->sensor_thread, NULL);
	/* Both threads are gone: this thread owns every line now. */
	gpiod_all_low_and_release(g);
	for (int r = 0; r < HAL_OUTPUTS; r++)
		pwm_sysfs_close(g->pwm[r]);
	pca9685_close(g->pca);
	gpio_chip_close(g->chip);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	if (g->hal.event_fd >= 0)
		close(g->hal.event_fd);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static const struct hal_ops gpiod_ops = {
	.set_outputs = gpiod_set_outputs,
	.read_distance = gpiod_read_distance,
	.close = gpiod_close,
};

static int gpiod_start_threads(struct hal_gpiod *g, char *err, size_t errlen)
{
	bool has_lines = false;
	int ret;

	for (int r = 0; r < HAL_OUTPUTS; r++)
		has_lines = has_lines || g->lines[r];
	if (has_lines) {
		ret = pthread_create(&g->pwm_thread, NULL, pwm_main, g);
		if (ret)
			goto fail;
		g->pwm_started = true;
	}
	if (!g->has_sensor)
		return 0;
	ret = pthread_create(&g->sensor_thread, NULL, sensor_main, g);
	if (ret)
		goto fail;
	g->sensor_started = true;
	return 0;
fail:
	snprintf(err, errlen, "cannot start a thread: %s", strerror(ret));
	return -ret;
}

/*
 * The PCA9685 channels of an output's @p spec ("pca9685:3", or "pca9685:1,2"
 * for several driven alike, as the two motors of one side of a 4WD car)
 * into *mask. Returns 1 for such a spec, 0 for another kind, -EINVAL.
 */
static int gpiod_channels(const char *spec, unsigned *mask)
{
	size_t n = strlen(HAL_PCA9685_PREFIX);
	const char *p;
	char *end;

	*mask = 0;
	if (!spec || strncmp(spec, HAL_PCA9685_PREFIX, n) != 0)
		return 0;
	for (p = spec + n;; p = end + 1) {
		long ch;

		errno = 0;
		ch = strtol(p, &end, 10);
		if (end == p || errno || ch < 0 || ch >= PCA9685_CHANNELS ||
		    (*end && *end != ','))
			return -EINVAL;
		*mask |= 1u << ch;
		if (!*end)
			return 1;
	}
}

/* Which outputs this drivetrain and driver need (1), allow (0) or refuse
 * (-1). */
static void gpiod_wanted(const struct hal_gpiod_config *cfg,
			 int need[HAL_OUTPUTS])
{
	bool esc = cfg->output[HAL_THROTTLE] != NULL;
	int en = cfg->driver == MOTOR_TWO_PIN ? -1 : 1;

	for (int r = 0; r < HAL_OUTPUTS; r++)
		need[r] = -1;
	need[HAL_STBY] = cfg->driver == MOTOR_TB6612 ? 0 : -1;
	if (cfg->drivetrain == MOTOR_DIFFERENTIAL) {
		need[HAL_LEFT_IN1] = need[HAL_LEFT_IN2] = 1;
		need[HAL_RIGHT_IN1] = need[HAL_RIGHT_IN2] = 1;
		need[HAL_LEFT_EN] = need[HAL_RIGHT_EN] = en;
		return;
	}
	need[HAL_STEERING] = 1;
	/* The throttle: an ESC, or one motor on an H-bridge. */
	need[HAL_THROTTLE] = 0;
	if (!esc) {
		need[HAL_LEFT_IN1] = need[HAL_LEFT_IN2] = 1;
		need[HAL_LEFT_EN] = en;
	} else {
		need[HAL_STBY] = -1;
	}
}

static int gpiod_check_outputs(struct hal_gpiod *g,
			       const struct hal_gpiod_config *cfg, char *err,
			       size_t errlen)
{
	static const char *const drivers[] = {"l298n", "two_pin", "tb6612"};
	int need[HAL_OUTPUTS];
	/* Whether the motors' pins are on the PCA9685; -1 before the first. */
	int motors_on_pca = -1;
	int on_pca;
	bool on_pwm;
	int chip;
	int ch;

	gpiod_wanted(cfg, need);
	for (int r = 0; r < HAL_OUTPUTS; r++) {
		const char *spec = cfg->output[r];
		const char *why = NULL;

		on_pca = gpiod_channels(spec, &g->channels[r]);
		on_pwm = pwm_sysfs_spec(spec, &chip, &ch);
		if (!spec && need[r] == 1)
			why = "is needed";
		else if (spec && need[r] == -1)
			why = "is not used";
		if (why) {
			snprintf(err, errlen,
				 "%s %s by %s car with motor_driver = %s%s",
				 hal_output_keys[r], why,
				 cfg->drivetrain == MOTOR_DIFFERENTIAL
					 ? "a differential"
					 : "an Ackermann",
				 drivers[cfg->driver],
				 cfg->drivetrain == MOTOR_ACKERMANN &&
						 r < HAL_STBY
					 ? " and no throttle (ESC)"
					 : "");
			return -EINVAL;
		}
		if (!spec)
			continue;
		if (on_pca < 0) {
			snprintf(err, errlen,
				 "%s = %s: PCA9685 channels "
				 "are " HAL_PCA9685_PREFIX
				 "0 to " HAL_PCA9685_PREFIX "15, several "
				 "driven alike " HAL_PCA9685_PREFIX "1,2",
				 hal_output_keys[r], spec);
			return -EINVAL;
		}
		if (r >= HAL_STEERING && !on_pca && !on_pwm) {
			snprintf(err, errlen,
				 "%s = %s: a servo or an ESC needs a PCA9685 "
				 "channel (" HAL_PCA9685_PREFIX
				 "N) or a kernel "
				 "PWM channel (" PWM_SYSFS_PREFIX "N:M): "
				 "software PWM on a GPIO line jitters by tens "
				 "of us, 5 %% of a servo's range",
				 hal_output_keys[r], spec);
			return -EINVAL;
		}
		if (r < HAL_STEERING && on_pwm) {
			snprintf(err, errlen,
				 "%s = %s: kernel PWM channels drive servos "
				 "and ESCs only (steering, throttle)",
				 hal_output_keys[r], spec);
			return -EINVAL;
		}
		/* The pins of the motors all on one side: the order in which
		 * they change (down first) holds within one side only. */
		if (r < HAL_STEERING) {
			if (motors_on_pca >= 0 && motors_on_pca != on_pca) {
				snprintf(err, errlen,
					 "%s = %s: the motors' pins must all "
					 "be GPIO lines or all PCA9685 "
					 "channels",
					 hal_output_keys[r], spec);
				return -EINVAL;
			}
			motors_on_pca = on_pca;
		}
		for (int o = 0; o < r; o++) {
			unsigned both = g->channels[o] & g->channels[r];

			if (both) {
				snprintf(err, errlen,
					 "%s and %s share a PCA9685 channel "
					 "(%d)",
					 hal_output_keys[o], hal_output_keys[r],
					 __builtin_ctz(both));
				return -EINVAL;
			}
		}
	}
	if (cfg->drivetrain == MOTOR_ACKERMANN &&
	    (motor_pulse_check(&cfg->steering, "steering", err, errlen) ||
	     motor_pulse_check(&cfg->throttle, "throttle", err, errlen)))
		return -EINVAL;
	return 0;
}

static int gpiod_setup_lines(struct hal_gpiod *g,
			     const struct hal_gpiod_config *cfg, char *err,
			     size_t errlen)
{
	const char *specs[ROLE_COUNT] = {NULL};
	bool any = false;

	if ((cfg->trigger == NULL) != (cfg->echo == NULL)) {
		snprintf(err, errlen,
			 "trigger and echo go together: set both "
			 "for an HC-SR04, or neither");
		return -EINVAL;
	}
	g->has_sensor = cfg->trigger != NULL;
	for (int r = 0; r < HAL_STEERING; r++) {
		if (!g->channels[r])
			specs[r] = cfg->output[r];
	}
	specs[ROLE_TRIGGER] = cfg->trigger;
	specs[ROLE_ECHO] = cfg->echo;
	for (int r = 0; r < ROLE_COUNT; r++)
		any = any || specs[r];
	if (!any)
		return 0;
	g->chip = gpio_open_chip(cfg->chip, specs, ROLE_COUNT, err, errlen);
	if (!g->chip)
		return -ENODEV;
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (specs[r] &&
		    gpio_find_line(g->chip, gpiod_role_key(r), specs[r],
				   &g->offsets[r], err, errlen))
			return -EINVAL;
		for (int o = 0; specs[r] && o < r; o++) {
			if (specs[o] && g->offsets[o] == g->offsets[r]) {
				snprintf(err, errlen,
					 "%s and %s are the same line (%u)",
					 gpiod_role_key(o), gpiod_role_key(r),
					 g->offsets[r]);
				return -EINVAL;
			}
		}
	}
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (!specs[r])
			continue;
		g->lines[r] = gpio_request(
			g->chip, gpiod_role_key(r), g->offsets[r],
			r == ROLE_ECHO ? GPIO_INPUT_EDGES : GPIO_OUTPUT_LOW,
			cfg->consumer, err, errlen);
		if (!g->lines[r])
			return -EIO;
	}
	return 0;
}

static int gpiod_setup_pwm(struct hal_gpiod *g,
			   const struct hal_gpiod_config *cfg, char *err,
			   size_t errlen)
{
	for (int r = HAL_STEERING; r < HAL_OUTPUTS; r++) {
		int chip;
		int ch;

		if (!pwm_sysfs_spec(cfg->output[r], &chip, &ch))
			continue;
		g->pwm[r] = pwm_sysfs_open(cfg->pwm_sysfs_root, chip, ch,
					   cfg->servo_hz, err, errlen);
		if (!g->pwm[r])
			return -ENODEV;
		g->hal.name = "pwm";
	}
	return 0;
}

static int gpiod_setup_pca9685(struct hal_gpiod *g,
			       const struct hal_gpiod_config *cfg, char *err,
			       size_t errlen)
{
	bool any = false;

	for (int r = 0; r < HAL_OUTPUTS; r++)
		any = any || g->channels[r];
	if (!any)
		return 0;
	g->pca = pca9685_open(cfg->pca9685_bus, cfg->pca9685_address,
			      cfg->pca9685_hz, err, errlen);
	if (!g->pca)
		return -ENODEV;
	g->hal.name = "pca9685";
	return 0;
}

struct hal *hal_gpiod_open(const struct hal_gpiod_config *cfg, char *err,
			   size_t errlen)
{
	struct hal_gpiod *g = calloc(1, sizeof(*g));
	struct motor_outputs stopped = {.standby = true};
	pthread_condattr_t attr;

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &attr);
	pthread_condattr_destroy(&attr);
	g->hal.ops = &gpiod_ops;
	g->hal.name = "gpiod";
	g->drivetrain = cfg->drivetrain;
	g->driver = cfg->driver;
	g->brake = cfg->brake;
	g->steering = cfg->steering;
	g->throttle = cfg->throttle;
	g->pwm_hz = cfg->pwm_hz;
	g->sensor_hz = cfg->sensor_hz;
	g->echo_timeout_ms = cfg->echo_timeout_ms;
	g->stop_fd = eventfd(0, EFD_CLOEXEC);
	g->hal.event_fd = -1;
	sensors_median_init(&g->median);
	if (g->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (gpiod_check_outputs(g, cfg, err, errlen) ||
	    gpiod_setup_lines(g, cfg, err, errlen) ||
	    gpiod_setup_pwm(g, cfg, err, errlen) ||
	    gpiod_setup_pca9685(g, cfg, err, errlen))
		goto fail;
	if (g->has_sensor) {
		g->hal.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (g->hal.event_fd < 0) {
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
			goto fail;
		}
	}
	if (gpiod_start_threads(g, err, errlen))
		goto fail;
	/* Servos centred, ESC at neutral, motors stopped, from the start. */
	if (gpiod_set_outputs(&g->hal, &stopped)) {
		snprintf(err, errlen, "setting the outputs to stopped failed");
		goto fail;
	}
	return &g->hal;

fail:
	/* Joins what started, drives every requested line low, releases,
	 * switches every PCA9685 channel off. */
	gpiod_close(&g->hal);
	return NULL;
}

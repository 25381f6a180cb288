// SPDX-License-Identifier: MIT
/*
 * hal_sim.c: the simulated car of hal.h — a differential-drive car whose
 * wheel speeds follow the duties, or an Ackermann car (the bicycle model:
 * speed from the throttle, turn rate v tan(angle) / wheelbase) — whose
 * pose is integrated exactly between output changes, and whose distance
 * sensor sees a wall straight ahead of the start position. It lets the
 * demo and the tests show real motion and real obstacle stops with no
 * hardware.
 *
 * With a trace file, every output change is written as a line
 * "<CLOCK_MONOTONIC seconds.nanoseconds> <left> <right>" (an Ackermann car
 * adds " <steer>"), so a test or a benchmark can watch the hardware layer
 * itself, not only MQTT.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "hal.h"
#include "iotcar/loop.h"
#include "sensors.h"

/* The sensor's beam: past this angle to the wall, no echo comes back. */
#define SIM_BEAM_DEG 30.0

struct hal_sim {
	struct hal hal;
	struct hal_sim_config cfg;
	struct motor_outputs out;
	struct hal_pose pose;
	/* When the pose was last brought up to date. */
	int64_t updated_ns;
	int trace_fd;
};

static double sim_rad(double deg)
{
	return deg * M_PI / 180.0;
}

/* The car's speed and turn rate (rad/s, positive left) at @p out. */
static void sim_motion(const struct hal_sim_config *cfg,
		       const struct motor_outputs *out, double *v, double *w)
{
	double vl = out->left / 100.0 * cfg->max_speed_cm_s;
	double vr = out->right / 100.0 * cfg->max_speed_cm_s;

	*v = (vl + vr) / 2.0;
	if (cfg->drivetrain == MOTOR_DIFFERENTIAL) {
		*w = (vr - vl) / cfg->track_cm;
		return;
	}
	/* Positive steer turns right: clockwise, a negative rate. */
	*w = -*v * tan(sim_rad(out->steer / 100.0 * cfg->max_steer_deg)) /
	     cfg->wheelbase_cm;
}

void hal_sim_step(const struct hal_sim_config *cfg,
		  const struct motor_outputs *out, struct hal_pose *p,
		  double dt_s)
{
	double h = sim_rad(p->heading_deg);
	double v;
	double w;

	sim_motion(cfg, out, &v, &w);
	if (dt_s <= 0.0 || (v == 0.0 && w == 0.0))
		return;
	if (fabs(w) < 1e-9) {
		p->x_cm += v * dt_s * cos(h);
		p->y_cm += v * dt_s * sin(h);
	} else {
		/* Exact arc for constant outputs. */
		p->x_cm += v / w * (sin(h + w * dt_s) - sin(h));
		p->y_cm -= v / w * (cos(h + w * dt_s) - cos(h));
	}
	p->odometer_cm += fabs(v) * dt_s;
	p->heading_deg =
		remainder(p->heading_deg + w * dt_s * 180.0 / M_PI, 360.0);
}

/* Bring the pose up to @p now_ns at the current (constant) outputs. */
static void sim_advance(struct hal_sim *sim, int64_t now_ns)
{
	hal_sim_step(&sim->cfg, &sim->out, &sim->pose,
		     (double)(now_ns - sim->updated_ns) / 1e9);
	sim->updated_ns = now_ns;
	/* The wall is solid. */
	if (sim->pose.x_cm > sim->cfg.wall_cm)
		sim->pose.x_cm = sim->cfg.wall_cm;
}

static void sim_trace(struct hal_sim *sim, int64_t now_ns)
{
	char line[80];
	int n;

	if (sim->trace_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%lld.%09lld %d %d",
		     (long long)(now_ns / 1000000000),
		     (long long)(now_ns % 1000000000), sim->out.left,
		     sim->out.right);
	if (n > 0 && sim->cfg.drivetrain == MOTOR_ACKERMANN)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %d",
			      sim->out.steer);
	if (n > 0 && (size_t)n < sizeof(line) - 1) {
		line[n++] = '\n';
		if (write(sim->trace_fd, line, (size_t)n) < 0) {
			/* A full pipe or disk must not stop the car. */
		}
	}
}

static int sim_set_outputs(struct hal *hal, const struct motor_outputs *out)
{
	struct hal_sim *sim = (struct hal_sim *)hal;
	int64_t now = iotcar_clock_ns();

	if (out->left == sim->out.left && out->right == sim->out.right &&
	    out->steer == sim->out.steer) {
		sim->out.standby = out->standby;
		return 0;
	}
	if (sim->cfg.latency_us) {
		struct timespec ts = {.tv_nsec = sim->cfg.latency_us * 1000L};

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	sim_advance(sim, now);
	sim->out = *out;
	sim_trace(sim, now);
	return 0;
}

static int sim_read_distance(struct hal *hal, double *cm)
{
	struct hal_sim *sim = (struct hal_sim *)hal;
	uint64_t ticks;
	double h;
	double d;

	if (read(hal->event_fd, &ticks, sizeof(ticks)) < 0) {
		/* Not due yet: answer from the pose anyway. */
	}
	sim_advance(sim, iotcar_clock_ns());
	h = sim_rad(sim->pose.heading_deg);
	if (cos(h) < cos(sim_rad(SIM_BEAM_DEG)))
		return -ENODATA;
	d = (sim->cfg.wall_cm - sim->pose.x_cm) / cos(h);
	if (d < SENSORS_MIN_CM || d > SENSORS_MAX_CM)
		return -ENODATA;
	*cm = d;
	return 0;
}

static int sim_get_pose(struct hal *hal, struct hal_pose *pose)
{
	struct hal_sim *sim = (struct hal_sim *)hal;

	sim_advance(sim, iotcar_clock_ns());
	*pose = sim->pose;
	return 0;
}

static void sim_close(struct hal *hal)
{
	struct hal_sim *sim = (struct hal_sim *)hal;
	struct motor_outputs stopped = {.standby = true};

	sim_set_outputs(hal, &stopped);
	if (sim->trace_fd >= 0)
		close(sim->trace_fd);
	close(hal->event_fd);
	free(sim);
}

static const struct hal_ops sim_ops = {
	.set_outputs = sim_set_outputs,
	.read_distance = sim_read_distance,
	.get_pose = sim_get_pose,
	.close = sim_close,
};

struct hal *hal_sim_open(const struct hal_sim_config *cfg, char *err,
			 size_t errlen)
{
	struct hal_sim *sim = calloc(1, sizeof(*sim));
	int64_t period_ns;
	struct itimerspec its;

	if (!sim) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sim->hal.ops = &sim_ops;
	sim->hal.name = "sim";
	sim->cfg = *cfg;
	sim->trace_fd = -1;
	sim->updated_ns = iotcar_clock_ns();
	sim->hal.event_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sim->hal.event_fd < 0) {
		snprintf(err, errlen, "timerfd: %s", strerror(errno));
		goto err_free;
	}
	period_ns = 1000000000LL / (cfg->sensor_hz > 0 ? cfg->sensor_hz : 15);
	its.it_interval.tv_sec = period_ns / 1000000000;
	its.it_interval.tv_nsec = period_ns % 1000000000;
	its.it_value = its.it_interval;
	timerfd_settime(sim->hal.event_fd, 0, &its, NULL);
	if (cfg->trace_path) {
		sim->trace_fd =
			open(cfg->trace_path,
			     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (sim->trace_fd < 0) {
			snprintf(err, errlen, "--sim-trace: %s: %s",
				 cfg->trace_path, strerror(errno));
			goto err_close;
		}
		/* The first line says the outputs start at zero. */
		sim_trace(sim, sim->updated_ns);
	}
	return &sim->hal;

err_close:
	close(sim->hal.event_fd);
err_free:
	free(sim);
	return NULL;
}

// SPDX-License-Identifier: MIT
/*
 * bench_fleet.c: what idle cars cost a broker. N cars of the real agent
 * code (agent_core's agent_new() on the simulated car, with the settings
 * car-agent parses), each on its own MQTT connection, against a Mosquitto
 * of their own on a free loopback port; a hundred cars to a process
 * (bench-fleet --worker, this program again), one loop each. Once every
 * car is online it measures a window of idle: the broker's PUBLISH
 * packets and bytes in and out (our own Mosquitto's $SYS counters,
 * sys_interval 1), its CPU and RSS, and the worker processes' CPU and RSS
 * (the agents'); per car, and extrapolated linearly to 10,000 cars. Then,
 * with the cars still there, it times `pc-console cars` and a car-bridge's
 * `cars` listing them. It passes or fails nothing.
 *
 *   bench-fleet [--cars N,...] [--seconds S] [car-agent options...]
 *
 * The car-agent options (--telemetry-ms, --state-interval-ms,
 * --link-timeout-ms...) go to every car: the cadence to trade.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "bench_util.h"
#include "hal.h"
#include "iotcar/log.h"
#include "iotcar/loop.h"
#include "iotcar/mqtt.h"
#include "iotcar/text.h"
#include "settings.h"

#define FLEET_MAX 4000
#define FLEET_ARGS_MAX 32
/* Cars started at a time, and how often: no connect storm. */
#define FLEET_BATCH 50
#define FLEET_BATCH_MS 50
#define FLEET_TARGET 10000
#define FLEET_PER_WORKER 100

enum sys_counter {
	SYS_PUB_IN,
	SYS_PUB_OUT,
	SYS_BYTES_IN,
	SYS_BYTES_OUT,
	SYS_COUNT,
};

static const char *const sys_topics[SYS_COUNT] = {
	"$SYS/broker/publish/messages/received",
	"$SYS/broker/publish/messages/sent",
	"$SYS/broker/bytes/received",
	"$SYS/broker/bytes/sent",
};

struct car {
	struct agent_settings s;
	struct hal *hal;
	struct agent *agent;
	char password[8];
};

struct fleet {
	struct iotcar_loop *loop;
	struct bench_broker br;
	struct iotcar_mqtt *ctl;
	pid_t *workers;
	int nworkers;
	int n;
	int online;
	bool *is_online;
	/* The broker's counters, as its $SYS says them. */
	double sys[SYS_COUNT];
	/* Extra car-agent options for every car. */
	char **extra;
	int nextra;
};

/* ==== The control client: who is online, and the broker's counters ==== */

static void fleet_on_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct fleet *f = ctx;
	char *end;
	long i;

	if (!msg->payload)
		return;
	for (int k = 0; k < SYS_COUNT; k++) {
		if (!strcmp(msg->topic, sys_topics[k])) {
			f->sys[k] = strtod(msg->payload, NULL);
			return;
		}
	}
	/* iotcar/fleetNNNN/status */
	if (strncmp(msg->topic, "iotcar/fleet", 12))
		return;
	i = strtol(msg->topic + 12, &end, 10);
	if (strcmp(end, "/status") || i < 0 || i >= f->n || !f->is_online)
		return;
	/* The previous size's wills may still come in. */
	if (msg->retained)
		return;
	if (!strcmp(msg->payload, "online") != f->is_online[i]) {
		f->is_online[i] = !f->is_online[i];
		f->online += f->is_online[i] ? 1 : -1;
	}
}

static void fleet_on_connected(void *ctx)
{
	struct fleet *f = ctx;
	struct iotcar_mqtt_sub subs[SYS_COUNT + 1];

	for (int k = 0; k < SYS_COUNT; k++)
		subs[k] = (struct iotcar_mqtt_sub){.topic = sys_topics[k],
						   .qos = 0};
	subs[SYS_COUNT] = (struct iotcar_mqtt_sub){
		.topic = "iotcar/+/status", .qos = 1, .retain_kept_only = true};
	iotcar_mqtt_subscribe(f->ctl, subs, SYS_COUNT + 1);
}

/* ==== The cars: a worker process runs up to FLEET_PER_WORKER ==== */

struct worker {
	struct iotcar_loop *loop;
	struct iotcar_timer *timer;
	struct car *cars;
	int first;
	int count;
	int started;
	const char *uri;
	char **extra;
	int nextra;
};

static int worker_start_car(struct worker *w, int i)
{
	struct car *c = &w->cars[i];
	struct hal_sim_config sc;
	struct iotcar_mqtt_opts mo;
	char id[16];
	char client_id[40];
	char err[512];
	char *argv[FLEET_ARGS_MAX + 8];
	int argc = 0;

	snprintf(id, sizeof(id), "fleet%04d", w->first + i);
	argv[argc++] = "car-agent";
	argv[argc++] = "--id";
	argv[argc++] = id;
	argv[argc++] = "--broker";
	argv[argc++] = (char *)(uintptr_t)w->uri;
	argv[argc++] = "--log-level";
	argv[argc++] = "warning";
	for (int k = 0; k < w->nextra; k++)
		argv[argc++] = w->extra[k];
	argv[argc] = NULL;
	if (settings_load(&c->s, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "bench-fleet: %s\n", err);
		return -EINVAL;
	}
	sc = (struct hal_sim_config){
		.wall_cm = c->s.sim_wall_cm,
		.max_speed_cm_s = c->s.sim_max_speed_cm_s,
		.track_cm = c->s.sim_track_cm,
		.sensor_hz = c->s.sensor_hz,
	};
	c->hal = hal_sim_open(&sc, err, sizeof(err));
	snprintf(client_id, sizeof(client_id), "iotcar-car-%s", id);
	if (!c->hal || iotcar_mqtt_opts_from_settings(
			       &c->s.common, client_id, &mo, c->password,
			       sizeof(c->password), err, sizeof(err))) {
		fprintf(stderr, "bench-fleet: %s: %s\n", id, err);
		return -EIO;
	}
	c->agent = agent_new(w->loop, &c->s, c->hal, &mo);
	if (!c->agent || agent_start(c->agent)) {
		fprintf(stderr, "bench-fleet: %s: %s\n", id, strerror(errno));
		return -EIO;
	}
	return 0;
}

static void worker_on_timer(void *ctx)
{
	struct worker *w = ctx;

	for (int k = 0; k < FLEET_BATCH && w->started < w->count; k++) {
		if (worker_start_car(w, w->started++))
			exit(1);
	}
	if (w->started == w->count)
		iotcar_timer_stop(w->timer);
}

/*
 * bench-fleet --worker FIRST COUNT URI [car-agent options]: cars FIRST..
 * FIRST+COUNT-1, until killed. A process of their own: Paho polls every
 * socket of a process for each message, which a few hundred clients in
 * one process turn into its whole time.
 */
static int worker_main(int argc, char **argv)
{
	struct worker w = {0};
	long first;
	long count;

	if (argc < 5 || iotcar_parse_long(argv[2], 0, FLEET_MAX, &first) ||
	    iotcar_parse_long(argv[3], 1, FLEET_PER_WORKER, &count))
		return 2;
	w.first = (int)first;
	w.count = (int)count;
	w.uri = argv[4];
	w.extra = argv + 5;
	w.nextra = argc - 5 < FLEET_ARGS_MAX ? argc - 5 : FLEET_ARGS_MAX;
	w.loop = iotcar_loop_new();
	w.cars = calloc((size_t)count, sizeof(*w.cars));
	w.timer = w.loop ? iotcar_timer_new(w.loop, worker_on_timer, &w) : NULL;
	if (!w.cars || !w.timer)
		return 1;
	iotcar_timer_start(w.timer, 1, FLEET_BATCH_MS);
	/* Until SIGTERM, whose default ends it: the broker sends the wills. */
	iotcar_loop_run(w.loop);
	return 1;
}

/* ==== The fleet: workers, and the control client ==== */

static void fleet_on_stop(void *ctx)
{
	iotcar_loop_stop(ctx);
}

/* Run the loop for @p ms. */
static void fleet_run_for(struct fleet *f, int ms)
{
	struct iotcar_timer *t =
		iotcar_timer_new(f->loop, fleet_on_stop, f->loop);

	iotcar_timer_start(t, ms, 0);
	iotcar_loop_run(f->loop);
	iotcar_timer_free(t);
}

static void fleet_stop_workers(struct fleet *f)
{
	for (int i = 0; i < f->nworkers; i++)
		bench_reap(f->workers[i]);
	free(f->workers);
	free(f->is_online);
	f->workers = NULL;
	f->is_online = NULL;
	f->nworkers = 0;
	f->online = 0;
}

static int fleet_start_workers(struct fleet *f, const char *self)
{
	f->nworkers = (f->n + FLEET_PER_WORKER - 1) / FLEET_PER_WORKER;
	f->workers = calloc((size_t)f->nworkers, sizeof(*f->workers));
	f->is_online = calloc((size_t)f->n, sizeof(*f->is_online));
	if (!f->workers || !f->is_online)
		return -ENOMEM;
	for (int i = 0; i < f->nworkers; i++) {
		char first[16];
		char count[16];
		char *argv[FLEET_ARGS_MAX + 8] = {(char *)(uintptr_t)self,
						  "--worker", first, count,
						  f->br.uri};
		int left = f->n - i * FLEET_PER_WORKER;

		snprintf(first, sizeof(first), "%d", i * FLEET_PER_WORKER);
		snprintf(count, sizeof(count), "%d",
			 left < FLEET_PER_WORKER ? left : FLEET_PER_WORKER);
		for (int k = 0; k < f->nextra; k++)
			argv[5 + k] = f->extra[k];
		f->workers[i] = bench_spawn(argv, -1);
		if (f->workers[i] < 0)
			return -ECHILD;
	}
	return 0;
}

/* The workers' CPU and RSS, summed. */
static void fleet_workers_usage(struct fleet *f, struct usage *u)
{
	*u = (struct usage){.at_ns = iotcar_clock_ns()};
	for (int i = 0; i < f->nworkers; i++) {
		struct usage w;

		if (bench_usage(f->workers[i], &w))
			continue;
		u->cpu_s += w.cpu_s;
		u->rss_kb += w.rss_kb;
	}
}

/* ==== Listing the fleet ==== */

/*
 * Read @p fd into @p buf until EOF, or a whole line when @p line; at most
 * 30 s. The length read, or -1.
 */
static ssize_t fleet_read(int fd, char *buf, size_t size, bool line)
{
	int64_t deadline = iotcar_clock_ms() + 30000;
	size_t len = 0;

	while (len < size - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - iotcar_clock_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			return -1;
		r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r == 0)
			break;
		if (r > 0)
			len += (size_t)r;
		if (line && len && buf[len - 1] == '\n')
			break;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/* `pc-console cars`: its wall time, and how many cars it listed. */
static void fleet_time_console(struct fleet *f)
{
	char *argv[] = {IOTCAR_CONSOLE_PATH, "--broker", f->br.uri, "cars",
			NULL};
	size_t size = (size_t)f->n * 64 + 4096;
	char *out = malloc(size);
	int64_t t0 = iotcar_clock_ns();
	ssize_t len = -1;
	int online = 0;
	int status = -1;
	int p[2];
	pid_t pid = -1;

	if (out && !pipe2(p, O_CLOEXEC)) {
		pid = bench_spawn_out(argv, p[1]);
		close(p[1]);
		len = pid > 0 ? fleet_read(p[0], out, size, false) : -1;
		close(p[0]);
	}
	if (pid > 0 && waitpid(pid, &status, 0) != pid)
		status = -1;
	if (len < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("  pc-console cars: failed\n");
		free(out);
		return;
	}
	for (char *q = out; (q = strstr(q, " online")); q++)
		online++;
	printf("  pc-console cars: %.0f ms from start to exit (its 1 s settle "
	       "window included), %d listed online\n",
	       (double)(iotcar_clock_ns() - t0) / 1e6, online);
	free(out);
}

/* A car-bridge on the broker: the time to its `cars` answer. */
static void fleet_time_bridge(struct fleet *f)
{
	char listen[40];
	int port = bench_free_port();
	char *argv[] = {IOTCAR_BRIDGE_PATH, "--broker", f->br.uri,
			"--listen",	    listen,	"--log-level",
			"warning",	    NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[2048];
	struct usage u;
	int64_t t0;
	ssize_t len;
	pid_t pid;
	int fd = -1;
	int n = 0;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	pid = bench_spawn(argv, -1);
	if (pid < 0 || bench_wait_port(port))
		goto out;
	/* Its settle window, and every car's first ping. */
	fleet_run_for(f, 1500);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	t0 = iotcar_clock_ns();
	if (write(fd, "cars\n", 5) != 5)
		goto out;
	len = fleet_read(fd, buf, sizeof(buf), true);
	if (len < 0)
		goto out;
	for (char *q = buf; (q = strstr(q, "fleet")); q++)
		n++;
	printf("  car-bridge cars: %.2f ms from the request to the answer "
	       "(the first %d of the cars online, sorted)\n",
	       (double)(iotcar_clock_ns() - t0) / 1e6, n);
	if (!bench_usage(pid, &u))
		printf("  car-bridge RSS with %d cars known: %.1f MB\n", f->n,
		       (double)u.rss_kb / 1024.0);
out:
	if (fd >= 0)
		close(fd);
	bench_reap(pid);
}

/* ==== One size of fleet ==== */

static int fleet_measure(struct fleet *f, const char *self, int n, int seconds)
{
	struct usage b0, b1, w0, w1;
	double sys0[SYS_COUNT];
	double pub_in, pub_out, bytes_in, bytes_out, broker_pct, cars_pct;
	int64_t deadline;

	f->n = n;
	printf("\n%d idle cars, %d per process\n", n, FLEET_PER_WORKER);
	fflush(stdout);
	if (fleet_start_workers(f, self))
		return -ECHILD;
	deadline = iotcar_clock_ms() + 60000;
	while (f->online < n && iotcar_clock_ms() < deadline)
		fleet_run_for(f, 100);
	if (f->online < n) {
		printf("  only %d of %d cars came online\n", f->online, n);
		return -EIO;
	}
	/* Settle: the discovery configs and first states are out. */
	fleet_run_for(f, 3000);
	memcpy(sys0, f->sys, sizeof(sys0));
	bench_usage(f->br.pid, &b0);
	fleet_workers_usage(f, &w0);
	fleet_run_for(f, seconds * 1000);
	bench_usage(f->br.pid, &b1);
	fleet_workers_usage(f, &w1);
	pub_in = (f->sys[SYS_PUB_IN] - sys0[SYS_PUB_IN]) / seconds / n;
	pub_out = (f->sys[SYS_PUB_OUT] - sys0[SYS_PUB_OUT]) / seconds / n;
	bytes_in = (f->sys[SYS_BYTES_IN] - sys0[SYS_BYTES_IN]) / seconds / n;
	bytes_out = (f->sys[SYS_BYTES_OUT] - sys0[SYS_BYTES_OUT]) / seconds / n;
	broker_pct = bench_cpu_pct(&b0, &b1);
	cars_pct = bench_cpu_pct(&w0, &w1);
	printf("  per car: %.2f PUBLISH/s in, %.2f out; %.0f bytes/s in, "
	       "%.0f out\n",
	       pub_in, pub_out, bytes_in, bytes_out);
	printf("  mosquitto: %.1f %% of a core (%.4f %% per car), RSS "
	       "%.1f MB (%.1f kB per car)\n",
	       broker_pct, broker_pct / n, (double)b1.rss_kb / 1024.0,
	       (double)b1.rss_kb / n);
	printf("  the agents: %.1f %% of a core (%.4f %% per car), RSS %.0f "
	       "kB per car\n",
	       cars_pct, cars_pct / n, (double)w1.rss_kb / n);
	printf("  %d cars, extrapolated: mosquitto at %.0f %% of a core, "
	       "%.0f PUBLISH/s in and %.0f out\n",
	       FLEET_TARGET, broker_pct / n * FLEET_TARGET,
	       pub_in * FLEET_TARGET, pub_out * FLEET_TARGET);
	fflush(stdout);
	fleet_time_console(f);
	fleet_time_bridge(f);
	fleet_stop_workers(f);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct iotcar_mqtt_handlers h = {
		.connected = fleet_on_connected,
		.message = fleet_on_message,
	};
	struct fleet f = {0};
	struct iotcar_mqtt_opts mo = {.client_id = "bench-fleet-ctl",
				      .keepalive_s = 30,
				      .reconnect_min_ms = 100,
				      .reconnect_max_ms = 1000};
	char sizes_buf[128] = "100,1000";
	char *sizes = sizes_buf;
	char self[4096];
	long seconds = 20;
	ssize_t len;
	int ret = 1;
	long nofile;

	setenv("IOTCAR_CONFIG_DIR", "/nonexistent", 1);
	iotcar_log_init("bench-fleet", IOTCAR_LOG_WARNING);
	if (argc > 1 && !strcmp(argv[1], "--worker"))
		return worker_main(argc, argv);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cars") && i + 1 < argc) {
			iotcar_strlcpy(sizes_buf, argv[++i], sizeof(sizes_buf));
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			if (iotcar_parse_long(argv[++i], 2, 3600, &seconds)) {
				fprintf(stderr,
					"bench-fleet: --seconds 2..3600\n");
				return 2;
			}
		} else if (f.nextra < FLEET_ARGS_MAX) {
			if (!f.extra)
				f.extra = &argv[i];
			f.nextra++;
		}
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return 1;
	self[len] = '\0';
	nofile = bench_raise_nofile();
	bench_print_machine();
	printf("window: %ld s of idle per size; car-agent options:", seconds);
	for (int k = 0; k < f.nextra; k++)
		printf(" %s", f.extra[k]);
	printf("%s\n", f.nextra ? "" : " none (the defaults)");
	/* Every car's online, two thousand at once, to one control client. */
	f.br.extra_conf = "sys_interval 1\nmax_queued_messages 100000\n";
	f.loop = iotcar_loop_new();
	if (!f.loop || bench_broker_start(&f.br))
		goto out;
	mo.uri = f.br.uri;
	f.ctl = iotcar_mqtt_new(f.loop, &mo, &h, &f);
	if (!f.ctl || iotcar_mqtt_start(f.ctl))
		goto out;
	for (char *tok; (tok = strsep(&sizes, ","));) {
		long n;

		if (iotcar_parse_long(tok, 1, FLEET_MAX, &n)) {
			fprintf(stderr, "bench-fleet: %s: 1..%d cars\n", tok,
				FLEET_MAX);
			goto out;
		}
		if (n + 64 > nofile) {
			printf("\n%ld cars: mosquitto needs %ld open files, "
			       "%ld allowed\n",
			       n, n + 64, nofile);
			continue;
		}
		if (fleet_measure(&f, self, (int)n, (int)seconds))
			goto out;
	}
	ret = 0;
out:
	fleet_stop_workers(&f);
	iotcar_mqtt_free(f.ctl);
	bench_broker_stop(&f.br);
	iotcar_loop_free(f.loop);
	return ret;
}

// SPDX-License-Identifier: MIT
/*
 * bench_bridge.c: what car-bridge costs, measured against the floor on the
 * real thing — one Mosquitto on a free loopback port, one car-agent on the
 * simulated car, one car-bridge, all started here.
 *
 * (a) The floor: a C Paho client publishes a drive command on
 *     iotcar/<car>/set naming an MQTT v5 Response Topic of its own, and
 *     waits for the car's result there; the next command goes out when the
 *     result is in (lockstep). The Response Topic, not an id, pairs them:
 *     with an id the car would also publish the result on its result
 *     topic, one publish more per command, and the floor would be lower
 *     (by about a fifth at 16 clients on the machine of docs/benchmarks.md).
 * (b) The same commands through the bridge: a TCP client sends
 *     "drive <t> 0 60000\n" and waits for its "OK" line, which the bridge
 *     sends when the car's result says ok.
 * (c) Throughput of 1, 16 and 256 such lockstep clients, with the CPU
 *     share of every process.
 * (d) 10,000 idle TCP connections held open (each answered a ping): the
 *     bridge's RSS, and (b) again meanwhile.
 *
 * Floor and bridge run in alternating rounds (five for (a)/(b), two for
 * each size of (c)), and the bridge is stopped during the floor's, so the
 * floor never pays for the bridge's subscriptions and the drift of a
 * shared machine falls on both alike. Every command changes the throttle,
 * so the car really changes state (and publishes it) each time. The clients all
 * run on this process's one event loop thread (plus Paho's threads). It prints
 * figures; it passes or fails nothing.
 *
 *   bench-bridge [--agent PATH] [--bridge PATH] [--quick]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"
#include "iotcar/log.h"
#include "iotcar/loop.h"
#include "iotcar/mqtt.h"

#define CAR "benchcar"
#define BRIDGE "benchbridge"
#define TOPIC_SET "iotcar/" CAR "/set"
#define TOPIC_CAR_STATUS "iotcar/" CAR "/status"
#define TOPIC_BRIDGE_STATUS "iotcar/bridge/" BRIDGE "/status"
#define REPLY_TOPIC "iotcar-bench/reply/%d"
/* A command unanswered this long is lost (the bridge's own timeout is 1 s
 * and answers ERR timeout, which counts as an error). */
#define LOST_MS 5000
/* Throughput phases run this long before they count. */
#define WARMUP_MS 1000

enum kind {
	KIND_MQTT,
	KIND_TCP
};

struct bench;

/* One lockstep client. */
struct client {
	struct bench *b;
	int index;
	enum kind kind;
	struct iotcar_mqtt *mqtt;
	int fd;
	bool ready;
	char reply_topic[48];
	char rx[1024];
	size_t rxlen;
	/* Commands this client sent; when the one in flight left, or 0. */
	int k;
	int64_t sent_ns;
};

/* One phase: these clients in lockstep, for a count or for a time. */
struct phase {
	const char *label;
	enum kind kind;
	int clients;
	/* Per round: commands to time (after `warmup` untimed ones), or 0:
	 * seconds. */
	int count;
	int warmup;
	int seconds;
	int rounds;
	int round;
	/* Results, summed over the rounds; CPU as % of a core × seconds. */
	struct samples s;
	int errors;
	double cpu_sum[4];
};

enum proc {
	PROC_BROKER,
	PROC_AGENT,
	PROC_BRIDGE,
	PROC_BENCH,
	PROC_COUNT
};

static const char *const proc_names[PROC_COUNT] = {"mosquitto", "car-agent",
						   "car-bridge", "clients"};

struct bench {
	struct iotcar_loop *loop;
	struct iotcar_timer *timer;
	struct iotcar_timer *watchdog;
	/* Watches the car's and the bridge's status. */
	struct iotcar_mqtt *ctl;
	bool car_online;
	bool bridge_online;
	struct bench_broker broker;
	pid_t pids[PROC_COUNT];
	int bridge_port;

	/* The phase running. */
	struct phase *ph;
	struct client *clients;
	int nclients;
	int nready;
	int inflight;
	/* Timing: samples are kept once this is set. */
	bool timing;
	/* No new commands: the phase is ending. */
	bool stopping;
	int sent_timed;
	int64_t start_ns;
	struct usage u0[PROC_COUNT];
	bool done;
	bool timed_out;
	int failed;
};

/* ==== Phases ==== */

static void bench_send(struct client *c);

/* Command k of client i: a throttle unlike the one before. */
static int bench_value(int i, int k)
{
	int v = 10 + (i * 7 + k) % 80;

	return k % 2 ? -v : v;
}

static void bench_snapshot(struct bench *b, struct usage *u)
{
	for (int p = 0; p < PROC_COUNT; p++)
		bench_usage(b->pids[p], &u[p]);
}

/* Start timing: from here on samples count and CPU is measured. */
static void bench_start_timing(struct bench *b)
{
	b->timing = true;
	b->start_ns = iotcar_clock_ns();
	bench_snapshot(b, b->u0);
}

static void bench_stop_timing(struct bench *b)
{
	struct usage u1[PROC_COUNT];
	double secs;

	bench_snapshot(b, u1);
	secs = (double)(iotcar_clock_ns() - b->start_ns) / 1e9;
	b->ph->s.seconds += secs;
	for (int p = 0; p < PROC_COUNT; p++)
		b->ph->cpu_sum[p] += bench_cpu_pct(&b->u0[p], &u1[p]) * secs;
	b->timing = false;
}

static void bench_sample(struct bench *b, double ms)
{
	struct samples *s = &b->ph->s;

	if ((s->n & (s->n - 1)) == 0 && s->n >= 1024) {
		double *ms2 = realloc(s->ms, 2 * (size_t)s->n * sizeof(*ms2));

		if (!ms2) {
			b->failed = 1;
			return;
		}
		s->ms = ms2;
	}
	s->ms[s->n++] = ms;
}

/* Client @p c's command came back, ok or not. */
static void bench_answered(struct client *c, bool ok)
{
	struct bench *b = c->b;
	struct phase *ph = b->ph;

	if (!c->sent_ns)
		return;
	if (b->timing) {
		bench_sample(b, (double)(iotcar_clock_ns() - c->sent_ns) / 1e6);
		ph->errors += !ok;
	}
	c->sent_ns = 0;
	b->inflight--;
	if (ph->count && !b->timing && !b->stopping && c->k == ph->warmup) {
		bench_start_timing(b);
	} else if (ph->count && b->timing && b->sent_timed >= ph->count) {
		b->stopping = true;
	}
	if (!b->stopping) {
		bench_send(c);
		return;
	}
	if (b->inflight == 0) {
		if (b->timing)
			bench_stop_timing(b);
		b->done = true;
		iotcar_loop_stop(b->loop);
	}
}

static void bench_send(struct client *c)
{
	struct bench *b = c->b;
	char cmd[160];
	int v = bench_value(c->index, c->k);
	int len;
	int ret;

	if (c->kind == KIND_MQTT)
		len = snprintf(cmd, sizeof(cmd),
			       "{\"throttle\":%d,\"steer\":0,\"ttl_ms\":60000}",
			       v);
	else
		len = snprintf(cmd, sizeof(cmd), "drive %d 0 60000\n", v);
	c->k++;
	b->inflight++;
	b->sent_timed += b->timing;
	c->sent_ns = iotcar_clock_ns();
	if (c->kind == KIND_MQTT)
		ret = iotcar_mqtt_request(c->mqtt, TOPIC_SET, cmd, (size_t)len,
					  c->reply_topic);
	else
		ret = write(c->fd, cmd, (size_t)len) == len ? 0 : -errno;
	if (ret) {
		fprintf(stderr, "bench: client %d cannot send: %s\n", c->index,
			strerror(-ret));
		b->failed = 1;
		iotcar_loop_stop(b->loop);
	}
}

/* ==== Clients ==== */

static void bench_on_tcp(void *ctx, int fd, uint32_t events)
{
	struct client *c = ctx;
	ssize_t n;
	char *nl;

	(void)events;
	n = read(fd, c->rx + c->rxlen, sizeof(c->rx) - c->rxlen - 1);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		fprintf(stderr, "bench: the bridge closed client %d\n",
			c->index);
		c->b->failed = 1;
		iotcar_loop_del_fd(c->b->loop, fd);
		iotcar_loop_stop(c->b->loop);
		return;
	}
	c->rxlen += (size_t)n;
	c->rx[c->rxlen] = '\0';
	while ((nl = strchr(c->rx, '\n')) != NULL) {
		bench_answered(c, !strncmp(c->rx, "OK", 2));
		c->rxlen -= (size_t)(nl + 1 - c->rx);
		memmove(c->rx, nl + 1, c->rxlen + 1);
	}
}

static void bench_on_reply(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct client *c = ctx;

	if (msg->payload && !strcmp(msg->topic, c->reply_topic))
		bench_answered(c, strstr(msg->payload, "\"status\":\"ok\"") !=
					  NULL);
}

static void bench_on_client_connected(void *ctx)
{
	struct client *c = ctx;
	struct iotcar_mqtt_sub sub = {.topic = c->reply_topic, .qos = 1};

	iotcar_mqtt_subscribe(c->mqtt, &sub, 1);
}

/* Its reply subscription is in place. */
static void bench_on_client_subscribed(void *ctx)
{
	struct client *c = ctx;

	if (c->ready)
		return;
	c->ready = true;
	if (++c->b->nready == c->b->nclients)
		iotcar_loop_stop(c->b->loop);
}

/* A blocking connect to the bridge with TCP_NODELAY, like any good client. */
static int bench_tcp_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int err = errno;

		close(fd);
		return -err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int bench_client_open(struct bench *b, struct client *c)
{
	static const struct iotcar_mqtt_handlers h = {
		.connected = bench_on_client_connected,
		.subscribed = bench_on_client_subscribed,
		.message = bench_on_reply,
	};
	struct iotcar_mqtt_opts mo = {.keepalive_s = 30};
	char id[48];

	c->b = b;
	c->fd = -1;
	if (c->kind == KIND_TCP) {
		c->fd = bench_tcp_connect(b->bridge_port);
		if (c->fd < 0)
			return c->fd;
		c->ready = true;
		b->nready++;
		return iotcar_loop_add_fd(b->loop, c->fd, EPOLLIN, bench_on_tcp,
					  c);
	}
	snprintf(id, sizeof(id), "iotcar-bench-%d", c->index);
	snprintf(c->reply_topic, sizeof(c->reply_topic), REPLY_TOPIC, c->index);
	mo.uri = b->broker.uri;
	mo.client_id = id;
	c->mqtt = iotcar_mqtt_new(b->loop, &mo, &h, c);
	if (!c->mqtt)
		return -errno;
	return iotcar_mqtt_start(c->mqtt);
}

static void bench_client_close(struct bench *b, struct client *c)
{
	if (c->fd >= 0) {
		iotcar_loop_del_fd(b->loop, c->fd);
		close(c->fd);
	}
	if (c->mqtt) {
		iotcar_mqtt_stop(c->mqtt, 1000);
		iotcar_mqtt_free(c->mqtt);
	}
}

/* ==== Running ==== */

static void bench_on_timer(void *ctx)
{
	struct bench *b = ctx;

	if (!b->timing) {
		/* The warm-up is over. */
		bench_start_timing(b);
		iotcar_timer_start(b->timer, b->ph->seconds * 1000LL, 0);
		return;
	}
	b->stopping = true;
	if (b->inflight == 0) {
		bench_stop_timing(b);
		b->done = true;
		iotcar_loop_stop(b->loop);
	}
}

static void bench_on_watchdog(void *ctx)
{
	struct bench *b = ctx;
	int64_t now = iotcar_clock_ns();

	for (int i = 0; i < b->nclients; i++) {
		struct client *c = &b->clients[i];

		if (c->sent_ns && now - c->sent_ns > LOST_MS * 1000000LL) {
			b->ph->s.lost++;
			b->timed_out = true;
		}
	}
	if (b->timed_out)
		iotcar_loop_stop(b->loop);
}

typedef bool bench_pred(const struct bench *b);

/* Run the loop until @p done says so, a failure, or @p timeout_ms. */
static int bench_until(struct bench *b, bench_pred *done, int timeout_ms)
{
	int64_t deadline = iotcar_clock_ms() + timeout_ms;

	while (!done(b) && !b->failed && !b->timed_out) {
		if (iotcar_clock_ms() >= deadline) {
			b->timed_out = true;
			break;
		}
		iotcar_timer_start(b->watchdog, 250, 250);
		iotcar_loop_run(b->loop);
	}
	iotcar_timer_stop(b->watchdog);
	return done(b) ? 0 : -ETIMEDOUT;
}

static bool bench_all_ready(const struct bench *b)
{
	return b->nready == b->nclients;
}

static bool bench_phase_done(const struct bench *b)
{
	return b->done;
}

static bool bench_car_online(const struct bench *b)
{
	return b->car_online;
}

static bool bench_bridge_online(const struct bench *b)
{
	return b->bridge_online;
}

static int bench_phase(struct bench *b, struct phase *ph)
{
	int ret = 0;

	ph->round++;
	printf("%-36s %d/%d ...", ph->label, ph->round, ph->rounds);
	fflush(stdout);
	b->ph = ph;
	b->nclients = ph->clients;
	b->nready = 0;
	b->inflight = 0;
	b->sent_timed = 0;
	b->timing = false;
	b->stopping = false;
	b->done = false;
	b->timed_out = false;
	b->clients = calloc((size_t)ph->clients, sizeof(*b->clients));
	if (!ph->s.ms)
		ph->s.ms = malloc(1024 * sizeof(double));
	if (!b->clients || !ph->s.ms)
		return -ENOMEM;
	for (int i = 0; i < ph->clients && !ret; i++) {
		b->clients[i].index = i;
		b->clients[i].kind = ph->kind;
		ret = bench_client_open(b, &b->clients[i]);
	}
	/* The subscribed handlers stop the loop once all are in. */
	if (!ret)
		ret = bench_until(b, bench_all_ready, 20000);
	if (!ret && !b->failed) {
		if (!ph->count)
			iotcar_timer_start(b->timer, WARMUP_MS, 0);
		else if (!ph->warmup)
			bench_start_timing(b);
		for (int i = 0; i < ph->clients; i++)
			bench_send(&b->clients[i]);
		ret = bench_until(b, bench_phase_done,
				  ph->count ? 600000
					    : ph->seconds * 1000 + WARMUP_MS +
						      LOST_MS);
	}
	iotcar_timer_stop(b->timer);
	for (int i = 0; i < ph->clients; i++)
		bench_client_close(b, &b->clients[i]);
	free(b->clients);
	b->clients = NULL;
	b->nclients = 0;
	printf(" %s\n", ret || b->failed ? "failed" : "done");
	return ret || b->failed ? -EIO : 0;
}

/* ==== Idle connections ==== */

/* Send "ping" on each of @p fds and read every answer. */
static int bench_ping_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (write(fds[i], "ping\n", 5) != 5)
			return -EIO;
	}
	for (int i = 0; i < n; i++) {
		struct pollfd p = {.fd = fds[i], .events = POLLIN};
		char buf[128];
		ssize_t got;

		if (poll(&p, 1, 10000) != 1)
			return -ETIMEDOUT;
		got = read(fds[i], buf, sizeof(buf));
		if (got < 2 || strncmp(buf, "OK", 2))
			return -EPROTO;
	}
	return 0;
}

/* Open @p n connections that each had a ping answered; -1 fds on failure. */
static int bench_open_idle(struct bench *b, int *fds, int n)
{
	const int batch = 250;

	for (int i = 0; i < n; i += batch) {
		int m = n - i < batch ? n - i : batch;

		for (int j = 0; j < m; j++) {
			fds[i + j] = bench_tcp_connect(b->bridge_port);
			if (fds[i + j] < 0) {
				fprintf(stderr, "bench: connection %d: %s\n",
					i + j, strerror(-fds[i + j]));
				return fds[i + j];
			}
		}
		if (bench_ping_all(fds + i, m)) {
			fprintf(stderr,
				"bench: connections %d..%d got no "
				"answer to ping\n",
				i, i + m - 1);
			return -EPROTO;
		}
	}
	return 0;
}

/* ==== Set-up ==== */

static void bench_on_ctl_connected(void *ctx)
{
	struct bench *b = ctx;
	struct iotcar_mqtt_sub subs[] = {
		{.topic = TOPIC_CAR_STATUS, .qos = 1},
		{.topic = TOPIC_BRIDGE_STATUS, .qos = 1}};

	iotcar_mqtt_subscribe(b->ctl, subs, 2);
}

static void bench_on_ctl_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct bench *b = ctx;
	bool online = msg->payload && !strcmp(msg->payload, "online");

	if (!strcmp(msg->topic, TOPIC_CAR_STATUS))
		b->car_online = online;
	else if (!strcmp(msg->topic, TOPIC_BRIDGE_STATUS))
		b->bridge_online = online;
	iotcar_loop_stop(b->loop);
}

/* Broker, car and our watcher of their status. */
static int bench_start(struct bench *b, const char *agent)
{
	static const struct iotcar_mqtt_handlers h = {
		.connected = bench_on_ctl_connected,
		.message = bench_on_ctl_message,
	};
	struct iotcar_mqtt_opts mo = {.client_id = "iotcar-bench-ctl",
				      .keepalive_s = 30};
	char *argv[] = {(char *)(uintptr_t)agent,
			"--broker",
			b->broker.uri,
			"--id",
			CAR,
			"--sim-wall-cm",
			"1000000",
			"--max-ttl-ms",
			"60000",
			"--log-level",
			"warning",
			NULL};

	if (bench_broker_start(&b->broker))
		return -1;
	b->pids[PROC_BROKER] = b->broker.pid;
	b->pids[PROC_BENCH] = getpid();
	/* Its warnings go to our stderr (as its fd 3 too, unused). */
	b->pids[PROC_AGENT] = bench_spawn(argv, STDERR_FILENO);
	b->loop = iotcar_loop_new();
	if (!b->loop)
		return -1;
	b->timer = iotcar_timer_new(b->loop, bench_on_timer, b);
	b->watchdog = iotcar_timer_new(b->loop, bench_on_watchdog, b);
	mo.uri = b->broker.uri;
	b->ctl = iotcar_mqtt_new(b->loop, &mo, &h, b);
	if (!b->timer || !b->watchdog || !b->ctl || iotcar_mqtt_start(b->ctl))
		return -1;
	if (bench_until(b, bench_car_online, 10000)) {
		fprintf(stderr, "bench: the car did not come online\n");
		return -1;
	}
	return 0;
}

/* The bridge, started for its rounds only. */
static int bench_start_bridge(struct bench *b, const char *bridge)
{
	char listen[32];
	char *argv[] = {(char *)(uintptr_t)bridge,
			"--broker",
			b->broker.uri,
			"--id",
			BRIDGE,
			"--car",
			CAR,
			"--listen",
			listen,
			"--udp",
			"off",
			"--rate-per-s",
			"0",
			"--max-clients",
			"12000",
			"--log-level",
			"warning",
			NULL};

	b->bridge_online = false;
	b->bridge_port = bench_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", b->bridge_port);
	b->pids[PROC_BRIDGE] = bench_spawn(argv, STDERR_FILENO);
	if (bench_until(b, bench_bridge_online, 10000) ||
	    bench_wait_port(b->bridge_port)) {
		fprintf(stderr, "bench: the bridge did not come online\n");
		return -1;
	}
	return 0;
}

static void bench_stop_bridge(struct bench *b)
{
	bench_reap(b->pids[PROC_BRIDGE]);
	b->pids[PROC_BRIDGE] = 0;
}

/* Rounds of @p floor and @p via (through the bridge), alternating. */
static int bench_pair(struct bench *b, struct phase *floor, struct phase *via,
		      const char *bridge)
{
	for (int r = 0; r < floor->rounds; r++) {
		if (bench_phase(b, floor) || bench_start_bridge(b, bridge) ||
		    bench_phase(b, via))
			return -1;
		bench_stop_bridge(b);
	}
	return 0;
}

static void bench_stop(struct bench *b)
{
	iotcar_mqtt_free(b->ctl);
	iotcar_timer_free(b->timer);
	iotcar_timer_free(b->watchdog);
	bench_reap(b->pids[PROC_BRIDGE]);
	bench_reap(b->pids[PROC_AGENT]);
	bench_broker_stop(&b->broker);
	iotcar_loop_free(b->loop);
}

/* ==== Report ==== */

static void bench_print_cpu(const struct phase *ph)
{
	printf("%-26s cpu, %% of a core:", "");
	for (int p = 0; p < PROC_COUNT; p++)
		if (p != PROC_BRIDGE || ph->kind == KIND_TCP)
			printf(" %s %.0f", proc_names[p],
			       ph->s.seconds ? ph->cpu_sum[p] / ph->s.seconds
					     : 0.0);
	printf("\n");
}

static void bench_print_phase(struct phase *ph)
{
	bench_report(ph->label, &ph->s);
	if (ph->errors)
		printf("%-26s errors: %d\n", "", ph->errors);
}

int main(int argc, char **argv)
{
	static struct bench b;
	const char *agent = IOTCAR_AGENT_PATH;
	const char *bridge = IOTCAR_BRIDGE_PATH;
	static const int sizes[] = {1, 16, 256};
	enum {
		NSIZES = 3
	};
	struct phase lat[2] = {
		{.label = "(a) floor, 1 MQTT client",
		 .kind = KIND_MQTT,
		 .clients = 1},
		{.label = "(b) bridge, 1 TCP client",
		 .kind = KIND_TCP,
		 .clients = 1},
	};
	struct phase tput[NSIZES][2];
	struct phase idle_lat = {.label = "(d) bridge, 1 TCP client + idle",
				 .kind = KIND_TCP,
				 .clients = 1,
				 .rounds = 1};
	int count = 10000;
	int seconds = 10;
	const int lat_rounds = 5;
	const int tput_rounds = 2;
	int nidle = 10000;
	struct usage u_before;
	struct usage u_idle;
	char labels[NSIZES][2][48];
	int *idle_fds = NULL;
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--agent") && i + 1 < argc) {
			agent = argv[++i];
		} else if (!strcmp(argv[i], "--bridge") && i + 1 < argc) {
			bridge = argv[++i];
		} else if (!strcmp(argv[i], "--quick")) {
			count = 2000;
			seconds = 4;
			nidle = 2000;
		} else {
			fprintf(stderr, "usage: bench-bridge [--agent PATH] "
					"[--bridge PATH] [--quick]\n");
			return 2;
		}
	}
	iotcar_log_init("bench-bridge", IOTCAR_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	if (bench_raise_nofile() < nidle + 1000) {
		fprintf(stderr,
			"bench: the open-file limit is below %d: "
			"ulimit -n\n",
			nidle + 1000);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		lat[i].count = count / lat_rounds;
		lat[i].warmup = 200;
		lat[i].rounds = lat_rounds;
	}
	idle_lat.count = count / 5;
	idle_lat.warmup = 200;
	for (int n = 0; n < NSIZES; n++) {
		for (int k = 0; k < 2; k++) {
			snprintf(labels[n][k], sizeof(labels[n][k]),
				 "(c) %s, %d %s client%s",
				 k ? "bridge" : "floor", sizes[n],
				 k ? "TCP" : "MQTT", sizes[n] > 1 ? "s" : "");
			tput[n][k] = (struct phase){
				.label = labels[n][k],
				.kind = k ? KIND_TCP : KIND_MQTT,
				.clients = sizes[n],
				.seconds = seconds / tput_rounds,
				.rounds = tput_rounds,
			};
		}
	}
	idle_fds = calloc((size_t)nidle, sizeof(*idle_fds));
	if (!idle_fds || bench_start(&b, agent))
		goto out;
	if (bench_pair(&b, &lat[0], &lat[1], bridge))
		goto out;
	for (int n = 0; n < NSIZES; n++)
		if (bench_pair(&b, &tput[n][0], &tput[n][1], bridge))
			goto out;
	if (bench_start_bridge(&b, bridge))
		goto out;
	printf("%-40s ...", "(d) opening idle connections");
	fflush(stdout);
	bench_usage(b.pids[PROC_BRIDGE], &u_before);
	for (int i = 0; i < nidle; i++)
		idle_fds[i] = -1;
	if (bench_open_idle(&b, idle_fds, nidle))
		goto out;
	bench_usage(b.pids[PROC_BRIDGE], &u_idle);
	printf(" %d open\n", nidle);
	if (bench_phase(&b, &idle_lat))
		goto out;

	printf("\n");
	bench_print_machine();
	printf("\n-- latency, ms: command sent -> car's result (floor) or "
	       "\"OK\" line (bridge)\n");
	for (int i = 0; i < 2; i++)
		bench_print_phase(&lat[i]);
	printf("added by the bridge: p50 %+.3f ms, p99 %+.3f ms\n",
	       bench_pct(lat[1].s.ms, lat[1].s.n, 50) -
		       bench_pct(lat[0].s.ms, lat[0].s.n, 50),
	       bench_pct(lat[1].s.ms, lat[1].s.n, 99) -
		       bench_pct(lat[0].s.ms, lat[0].s.n, 99));
	printf("\n-- throughput, lockstep clients, %d s each in %d rounds\n",
	       seconds, tput_rounds);
	for (int n = 0; n < NSIZES; n++) {
		for (int k = 0; k < 2; k++) {
			bench_print_phase(&tput[n][k]);
			bench_print_cpu(&tput[n][k]);
		}
		printf("%-26s bridge/floor: %.2f\n", "",
		       (tput[n][1].s.n / tput[n][1].s.seconds) /
			       (tput[n][0].s.n / tput[n][0].s.seconds));
	}
	printf("\n-- %d idle connections\n", nidle);
	printf("car-bridge rss: %ld kB before, %ld kB with them open "
	       "(%.1f kB each), peak %ld kB\n",
	       u_before.rss_kb, u_idle.rss_kb,
	       (double)(u_idle.rss_kb - u_before.rss_kb) / nidle,
	       u_idle.hwm_kb);
	bench_print_phase(&idle_lat);
	bench_print_cpu(&idle_lat);
	ret = 0;
out:
	for (int i = 0; idle_fds && i < nidle; i++)
		if (idle_fds[i] > 0)
			close(idle_fds[i]);
	free(idle_fds);
	bench_stop(&b);
	for (int i = 0; i < 2; i++)
		free(lat[i].s.ms);
	for (int n = 0; n < NSIZES; n++)
		for (int k = 0; k < 2; k++)
			free(tput[n][k].s.ms);
	free(idle_lat.s.ms);
	if (ret)
		fprintf(stderr, "bench: failed\n");
	return ret;
}

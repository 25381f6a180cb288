// SPDX-License-Identifier: MIT
/*
 * bench_link.c: bench-agent --link, what the car's link layer costs and
 * gives (docs/faults.md). The car agent runs in a network namespace of
 * its own, the broker (and this benchmark) in another, a router between
 * them; a silent partition is a pair of blackhole routes in the router.
 * Each round drives the car (a command that lives a minute, so only the
 * link rules can stop it), cuts the link without a word, and times:
 *
 *   - partition -> motors stopped (the trace's CLOCK_MONOTONIC time);
 *   - heal -> the car says `online` again;
 *   - heal -> the first command of a 20 Hz stream (each one with a value
 *     of its own) reaches the motors.
 *
 * Before the rounds, with the car idle, it counts the link pings the car
 * publishes for ten seconds: each one crosses the broker twice (the car's
 * publish in, its echo out), plus once more to every client that follows
 * the car's pings (a bridge, a console). Needs root (network namespaces);
 * it prints figures and judges nothing.
 */
#include "bench_link.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "iotcar/loop.h"
#include "iotcar/mqtt.h"
#include "iotcar/text.h"

#define CAR "linkcar"
#define TOPIC_STATUS "iotcar/" CAR "/status"
#define TOPIC_LINK "iotcar/" CAR "/link"
#define TOPIC_DRIVE "iotcar/" CAR "/set/drive"
#define CAR_ADDR "10.0.1.2"
#define BROKER_ADDR "10.0.2.2"
#define STREAM_MS 50
#define IDLE_S 10

enum step {
	STEP_IDLE,
	STEP_DRIVE,
	STEP_CUT,
	STEP_HEALED,
	STEP_DONE,
};

struct link_bench {
	struct iotcar_loop *loop;
	struct iotcar_mqtt *mqtt;
	struct iotcar_timer *timer;
	struct iotcar_timer *stream;
	struct bench_broker broker;
	char ns[3][40];
	pid_t agent;
	struct bench_trace trace;
	enum step step;
	int rounds;
	int round;
	int partition_ms;
	int pings;
	bool online;
	int value;
	int64_t t_cut;
	int64_t t_heal;
	struct samples stop;
	struct samples back;
	struct samples first;
	int failed;
};

static int link_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One `ip` command; its failure fails the benchmark. */
static int link_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench: failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static void link_down(struct link_bench *b)
{
	for (int i = 0; i < 3; i++) {
		if (b->ns[i][0])
			link_sh("ip netns del %s 2>/dev/null", b->ns[i]);
	}
}

/* The car, router and broker hosts; this process moves to the broker's. */
static int link_up(struct link_bench *b)
{
	static const char *const hosts[3] = {"car", "rtr", "brk"};
	char path[80];
	int fd;

	for (int i = 0; i < 3; i++) {
		snprintf(b->ns[i], sizeof(b->ns[i]), "iotcar-bench-%d-%s",
			 (int)getpid(), hosts[i]);
		if (link_sh("ip netns add %s && ip -n %s link set lo up",
			    b->ns[i], b->ns[i]))
			return -1;
	}
	if (link_sh("ip link add vcar netns %s type veth peer name vrc netns "
		    "%s && ip link add vbrk netns %s type veth peer name vrb "
		    "netns %s",
		    b->ns[0], b->ns[1], b->ns[2], b->ns[1]) ||
	    link_sh("ip -n %s addr add " CAR_ADDR "/24 dev vcar && ip -n %s "
		    "link set vcar up && ip -n %s route add default via "
		    "10.0.1.1",
		    b->ns[0], b->ns[0], b->ns[0]) ||
	    link_sh("ip -n %s addr add 10.0.1.1/24 dev vrc && ip -n %s addr "
		    "add 10.0.2.1/24 dev vrb && ip -n %s link set vrc up && "
		    "ip -n %s link set vrb up && ip netns exec %s sysctl -qw "
		    "net.ipv4.ip_forward=1",
		    b->ns[1], b->ns[1], b->ns[1], b->ns[1], b->ns[1]) ||
	    link_sh("ip -n %s addr add " BROKER_ADDR "/24 dev vbrk && ip -n "
		    "%s link set vbrk up && ip -n %s route add default via "
		    "10.0.2.1",
		    b->ns[2], b->ns[2], b->ns[2]))
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%s", b->ns[2]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		perror("bench: setns");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int link_cut(struct link_bench *b, bool cut)
{
	return link_sh("ip -n %s route %s blackhole " CAR_ADDR "/32 && ip -n "
		       "%s route %s blackhole " BROKER_ADDR "/32",
		       b->ns[1], cut ? "add" : "del", b->ns[1],
		       cut ? "add" : "del");
}

/* ==== The rounds ==== */

static void link_fail(struct link_bench *b, const char *why)
{
	fprintf(stderr, "bench: %s\n", why);
	b->failed = 1;
	iotcar_loop_stop(b->loop);
}

static void link_publish(struct link_bench *b, const char *text)
{
	if (iotcar_mqtt_publish(b->mqtt, TOPIC_DRIVE, text, strlen(text), 0,
				false))
		link_fail(b, "publish failed");
}

static void link_round(struct link_bench *b)
{
	if (b->round++ == b->rounds) {
		b->step = STEP_DONE;
		iotcar_loop_stop(b->loop);
		return;
	}
	b->step = STEP_DRIVE;
	link_publish(b, "forward 40 60000");
}

static void link_on_timer(void *ctx)
{
	struct link_bench *b = ctx;

	if (b->step == STEP_IDLE) {
		printf("idle: %d link pings in %d s; %d rounds of a %d ms "
		       "partition...\n",
		       b->pings, IDLE_S, b->rounds, b->partition_ms);
		fflush(stdout);
		link_round(b);
		return;
	}
	/* The partition is over: heal it, and stream commands at once. */
	if (link_cut(b, false)) {
		link_fail(b, "cannot heal");
		return;
	}
	b->t_heal = iotcar_clock_ns();
	b->online = false;
	b->step = STEP_HEALED;
	iotcar_timer_start(b->stream, 0, STREAM_MS);
}

/* One command of the stream after the heal, each with its own value. */
static void link_on_stream(void *ctx)
{
	struct link_bench *b = ctx;
	char cmd[48];

	b->value = b->value >= 99 ? 50 : b->value + 1;
	snprintf(cmd, sizeof(cmd), "drive %d 0 60000", b->value);
	link_publish(b, cmd);
}

static void link_add(struct samples *s, int64_t from, int64_t to)
{
	s->ms[s->n++] = (double)(to - from) / 1e6;
}

static void link_on_output(struct link_bench *b, int left, int64_t t)
{
	switch (b->step) {
	case STEP_DRIVE:
		if (left != 40)
			break;
		if (link_cut(b, true)) {
			link_fail(b, "cannot cut");
			break;
		}
		b->t_cut = iotcar_clock_ns();
		b->step = STEP_CUT;
		break;
	case STEP_CUT:
		if (left == 0) {
			link_add(&b->stop, b->t_cut, t);
			iotcar_timer_start(b->timer, b->partition_ms, 0);
		}
		break;
	case STEP_HEALED:
		if (left < 50)
			break;
		link_add(&b->first, b->t_heal, t);
		iotcar_timer_stop(b->stream);
		if (!b->online)
			b->back.lost++;
		link_publish(b, "stop");
		link_round(b);
		break;
	default:
		break;
	}
}

static void link_on_trace(void *ctx, int left, int64_t t_ns)
{
	link_on_output(ctx, left, t_ns);
}

static void link_on_trace_closed(void *ctx)
{
	link_fail(ctx, "the agent closed its trace");
}

static void link_on_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct link_bench *b = ctx;

	if (!strcmp(msg->topic, TOPIC_LINK)) {
		b->pings += b->step == STEP_IDLE;
		return;
	}
	if (strcmp(msg->topic, TOPIC_STATUS) || !msg->payload ||
	    strcmp(msg->payload, "online"))
		return;
	if (b->step == STEP_IDLE && !iotcar_timer_is_armed(b->timer)) {
		printf("counting the idle car's link pings for %d s...\n",
		       IDLE_S);
		fflush(stdout);
		b->pings = 0;
		iotcar_timer_start(b->timer, IDLE_S * 1000, 0);
	} else if (b->step == STEP_HEALED && !b->online) {
		b->online = true;
		link_add(&b->back, b->t_heal, iotcar_clock_ns());
	}
}

static void link_on_connected(void *ctx)
{
	struct link_bench *b = ctx;
	struct iotcar_mqtt_sub subs[] = {{.topic = TOPIC_STATUS, .qos = 1},
					 {.topic = TOPIC_LINK, .qos = 0}};

	iotcar_mqtt_subscribe(b->mqtt, subs, 2);
}

/* ==== Set-up ==== */

static int link_start_agent(struct link_bench *b, const char *agent)
{
	char uri[64];
	char *argv[] = {"ip",
			"netns",
			"exec",
			b->ns[0],
			(char *)(uintptr_t)agent,
			"--broker",
			uri,
			"--id",
			CAR,
			"--sim-trace",
			"/dev/fd/3",
			"--sim-wall-cm",
			"1000000",
			"--max-ttl-ms",
			"60000",
			"--ha-discovery",
			"off",
			"--log-level",
			"error",
			NULL};

	snprintf(uri, sizeof(uri), "tcp://" BROKER_ADDR ":%d", b->broker.port);
	b->trace = (struct bench_trace){.output = link_on_trace,
					.closed = link_on_trace_closed,
					.ctx = b};
	b->agent = bench_spawn_traced(b->loop, argv, &b->trace);
	return b->agent < 0 ? -ECHILD : 0;
}

static void link_print(struct link_bench *b)
{
	printf("\n");
	bench_print_machine();
	printf("\n-- the link: %d silent partitions of %d ms (blackhole routes "
	       "between the car's and the broker's network namespaces)\n",
	       b->rounds, b->partition_ms);
	bench_report("partition -> stopped", &b->stop);
	bench_report("heal -> online", &b->back);
	bench_report("heal -> command obeyed", &b->first);
	printf("\n-- what the link costs an idle car\n");
	printf("link pings published    %.2f/s\n", (double)b->pings / IDLE_S);
	printf("through the broker      %.2f messages/s (the ping in, its "
	       "echo out), and %.2f/s more to each client following the "
	       "car\n",
	       2.0 * b->pings / IDLE_S, (double)b->pings / IDLE_S);
}

int bench_link_run(const char *agent, int rounds, int partition_ms)
{
	static const struct iotcar_mqtt_handlers handlers = {
		.connected = link_on_connected,
		.message = link_on_message,
	};
	struct link_bench b = {.rounds = rounds,
			       .partition_ms = partition_ms,
			       .trace.fd = -1,
			       .value = 50};
	struct iotcar_mqtt_opts mo = {.client_id = "iotcar-bench-link",
				      .keepalive_s = 30};
	int ret = 1;

	if (geteuid() != 0) {
		fprintf(stderr, "bench: --link needs root (network "
				"namespaces)\n");
		return 2;
	}
	b.stop.ms = calloc((size_t)rounds, sizeof(double));
	b.back.ms = calloc((size_t)rounds, sizeof(double));
	b.first.ms = calloc((size_t)rounds, sizeof(double));
	b.broker.all_addresses = true;
	if (!b.stop.ms || !b.back.ms || !b.first.ms || link_up(&b) ||
	    bench_broker_start(&b.broker))
		goto out;
	mo.uri = b.broker.uri;
	b.loop = iotcar_loop_new();
	b.timer = b.loop ? iotcar_timer_new(b.loop, link_on_timer, &b) : NULL;
	b.stream = b.loop ? iotcar_timer_new(b.loop, link_on_stream, &b) : NULL;
	b.mqtt = b.loop ? iotcar_mqtt_new(b.loop, &mo, &handlers, &b) : NULL;
	if (!b.timer || !b.stream || !b.mqtt || link_start_agent(&b, agent))
		goto out;
	iotcar_mqtt_start(b.mqtt);
	iotcar_loop_run(b.loop);
	if (!b.failed && b.step == STEP_DONE) {
		link_print(&b);
		ret = 0;
	}
out:
	iotcar_mqtt_free(b.mqtt);
	iotcar_timer_free(b.timer);
	iotcar_timer_free(b.stream);
	bench_reap(b.agent);
	bench_broker_stop(&b.broker);
	if (b.trace.fd >= 0)
		close(b.trace.fd);
	iotcar_loop_free(b.loop);
	link_down(&b);
	free(b.stop.ms);
	free(b.back.ms);
	free(b.first.ms);
	return ret;
}

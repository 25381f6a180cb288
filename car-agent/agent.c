// SPDX-License-Identifier: MIT
/*
 * agent.c: the car agent of agent.h. Commands arrive from the MQTT wrapper
 * on the loop's thread; every one goes through safety.c, whose outputs are
 * applied to the hardware layer; every change of state is published (at most
 * 20 times a second, and every state_interval_ms anyway).
 *
 * Three kinds of answer: a `result` for every command with an id and every
 * refused command (and on an MQTT v5 Response Topic, always); an `event`
 * for what the car did by itself (failsafe, obstacle, estop, link_lost) or
 * for input it could not use (bad_command, retained_ignored); and the
 * retained state.
 *
 * The link (link.h) is the car's own liveness round trip: a silence of
 * link_timeout_ms stops the car and drops the connection, and no drive
 * command that may be older than max_command_age_ms is executed. Safety
 * commands (e-stop, stop, the speed limit) are never stale and never
 * dropped by the MQTT inbox (agent_keep).
 */
#include "agent.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discovery.h"
#include "health.h"
#include "iotcar/log.h"
#include "iotcar/payload.h"
#include "iotcar/text.h"
#include "iotcar/topic.h"
#include "link.h"
#include "safety.h"

/* At most 20 state messages a second (protocol §2). */
#define AGENT_STATE_MIN_GAP_MS 50
/* Distance changes smaller than this are noise, not a new state. */
#define AGENT_DISTANCE_STEP_CM 1.0
/* The obstacle clears this far beyond the stop distance. */
#define AGENT_CLEAR_MARGIN_CM 5.0
#define AGENT_PAYLOAD_MAX 1024
#define AGENT_STOP_TIMEOUT_MS 2000
/* Stopped and no drive command for this long: idle (agent_set_idle). */
#define AGENT_IDLE_AFTER_MS 2000
/* Connections closed sooner than this, in a row, are suspicious. */
#define AGENT_SHORT_LINK_MS 10000

/* The command topics, each also under iotcar/all/. */
static const struct {
	enum iotcar_topic_kind kind;
	/* QoS 0 for drive: a late drive command is worse than a lost one. */
	int qos;
} agent_commands[] = {
	{IOTCAR_TOPIC_SET, 0},
	{IOTCAR_TOPIC_SET_DRIVE, 0},
	{IOTCAR_TOPIC_SET_SPEED_LIMIT, 1},
	{IOTCAR_TOPIC_SET_ESTOP, 1},
};

struct agent {
	struct iotcar_loop *loop;
	const struct agent_settings *cfg;
	struct hal *hal;
	struct iotcar_mqtt *mqtt;
	struct safety safety;
	/* The duties the hardware layer has now. */
	/* The outputs the hardware has. */
	struct motor_outputs out;
	struct iotcar_timer *deadman;
	/* An ESC's reverse arming (esc_reverse = double_tap), or NULL. */
	struct iotcar_timer *esc_timer;
	struct motor_esc esc;
	struct iotcar_timer *state_timer;
	struct iotcar_timer *telemetry_timer;
	/* When the last drive command came (the car is idle 2 s after it). */
	int64_t drive_ms;
	char topic[IOTCAR_TOPIC_KIND_COUNT][IOTCAR_TOPIC_MAX];
	char all_topic[IOTCAR_TOPIC_KIND_COUNT][IOTCAR_TOPIC_MAX];
	/* The last state the broker accepted, and when. */
	struct iotcar_state published;
	bool published_valid;
	int64_t state_sent_ms;
	uint64_t seq;
	/* A link loss stopped the car: say so once the link is back. */
	bool link_failsafe;
	struct link link;
	struct iotcar_timer *link_timer;
	/* Fires when nothing has been heard for the link timeout. */
	struct iotcar_timer *silence_timer;
	/* Said that no ping came back (an ACL?); said once. */
	bool link_warned;
	/* When the connection came up, and how many in a row lasted less
	 * than AGENT_SHORT_LINK_MS. */
	int64_t connected_ms;
	int short_links;
	/* A link loss to report once the link is back. */
	bool loss_pending;
	const char *loss_reason;
	int loss_code;
	char loss_message[200];
	/* The number of the next e-stop latch. */
	uint32_t next_latch;
	/* The speed of a drive text that gives none (settings, set). */
	int speed;
	char client_id[128];
	struct iotcar_log_burst drop_burst;
	struct iotcar_log_burst lost_burst;
	bool sensing;
	bool stopped;
	int exit_code;
	int64_t started_ms;
	uint64_t commands;
	uint64_t rejected;
	/* Home Assistant discovery; ha_mode OFF leaves the rest unused. */
	enum discovery_mode ha_mode;
	struct discovery_car ha;
	char ha_status[IOTCAR_TOPIC_MAX];
	char ha_url[256];
	struct iotcar_timer *ha_timer;
};

/* What a command handler needs to answer. */
struct agent_cmd {
	const struct iotcar_mqtt_msg *msg;
	/* "drive", "set", "speed_limit", "estop", "get". */
	const char *name;
	struct iotcar_cmd_id id;
	/* An e-stop ON made this latch: the result names it. */
	uint32_t latch;
};

static void agent_fault(struct agent *a, int err);

/* ==== Publishing ==== */

/*
 * Publish. Offline, nothing is kept (the state is republished on
 * connecting); a full queue is counted (iotcar_mqtt_lost()), and logged
 * once per burst by the link timer, never once a message.
 */
static void agent_send(const struct agent *a, const struct iotcar_mqtt_pub *p,
		       int len)
{
	struct iotcar_mqtt_pub pub = *p;
	int ret;

	if (len < 0) {
		log_error("cannot format a message to %s: %s", p->topic,
			  strerror(-len));
		return;
	}
	pub.len = (size_t)len;
	ret = iotcar_mqtt_send(a->mqtt, &pub);
	if (ret && ret != -ENOTCONN && ret != -ENOBUFS)
		log_warning_limited("publish to %s failed: %s", p->topic,
				    strerror(-ret));
}

static void agent_publish(struct agent *a, enum iotcar_topic_kind kind,
			  const char *payload, int len, int qos, bool retain)
{
	struct iotcar_mqtt_pub p = {.topic = a->topic[kind],
				    .payload = payload,
				    .qos = qos,
				    .retain = retain};

	agent_send(a, &p, len);
}

/* An event; @p droppable when a flood of them may lose it (bad input). */
static void agent_event(struct agent *a, const struct iotcar_event *ev,
			bool droppable)
{
	char buf[AGENT_PAYLOAD_MAX];
	struct iotcar_mqtt_pub p = {.topic = a->topic[IOTCAR_TOPIC_EVENT],
				    .payload = buf,
				    .qos = 1,
				    .droppable = droppable};

	agent_send(a, &p, iotcar_event_format(ev, buf, sizeof(buf)));
}

static void agent_state_get(const struct agent *a, struct iotcar_state *st)
{
	const struct safety *s = &a->safety;

	*st = (struct iotcar_state){
		.mode = s->mode,
		.throttle = s->throttle,
		.steer = s->steer,
		.left = a->out.left,
		.right = a->out.right,
		.ackermann = a->safety.cfg.drivetrain == MOTOR_ACKERMANN,
		.speed_limit = s->speed_limit,
		.speed = a->speed,
		.estop = s->estop,
		.estop_latch = s->estop_latch,
		.obstacle = s->obstacle,
		.moving = a->out.left || a->out.right,
		.has_distance = s->has_distance,
		.distance_cm = s->distance_cm,
		.ttl_ms = s->ttl_ms,
		.seq = a->seq,
	};
}

static bool agent_state_same(const struct iotcar_state *x,
			     const struct iotcar_state *y)
{
	if (x->has_distance != y->has_distance ||
	    (x->has_distance &&
	     fabs(x->distance_cm - y->distance_cm) >= AGENT_DISTANCE_STEP_CM))
		return false;
	return x->mode == y->mode && x->throttle == y->throttle &&
	       x->steer == y->steer && x->left == y->left &&
	       x->ackermann == y->ackermann && x->right == y->right &&
	       x->speed_limit == y->speed_limit && x->speed == y->speed &&
	       x->estop == y->estop && x->estop_latch == y->estop_latch &&
	       x->obstacle == y->obstacle && x->ttl_ms == y->ttl_ms;
}

static void agent_publish_state(struct agent *a)
{
	struct iotcar_state st;
	char buf[AGENT_PAYLOAD_MAX];
	int len;

	agent_state_get(a, &st);
	st.seq = a->seq + 1;
	len = iotcar_state_format(&st, buf, sizeof(buf));
	if (len >= 0 &&
	    iotcar_mqtt_publish(a->mqtt, a->topic[IOTCAR_TOPIC_STATE], buf,
				(size_t)len, 1, true) == 0) {
		a->seq = st.seq;
		a->published = st;
		a->published_valid = true;
		a->state_sent_ms = iotcar_clock_ms();
	}
	iotcar_timer_start(a->state_timer, a->cfg->state_interval_ms, 0);
}

/* The state may have changed: publish now, or as soon as the rate allows. */
static void agent_state_changed(struct agent *a)
{
	struct iotcar_state st;
	int64_t next = a->state_sent_ms + AGENT_STATE_MIN_GAP_MS;

	agent_state_get(a, &st);
	if ((a->published_valid && agent_state_same(&st, &a->published)) ||
	    !iotcar_mqtt_is_connected(a->mqtt))
		return;
	if (iotcar_clock_ms() >= next)
		agent_publish_state(a);
	else
		iotcar_timer_start_at(a->state_timer, next);
}

static void agent_on_state_timer(void *ctx)
{
	agent_publish_state(ctx);
}

static void agent_publish_telemetry(struct agent *a)
{
	int64_t up_ms = iotcar_clock_ms() - a->started_ms;
	struct timespec now;
	struct iotcar_telemetry t = {
		.uptime_s = up_ms / 1000,
		.has_distance = a->safety.has_distance,
		.distance_cm = a->safety.distance_cm,
		.left = a->out.left,
		.right = a->out.right,
		.hal = a->hal->name,
		.commands = a->commands,
		.rejected = a->rejected,
		.dropped = iotcar_mqtt_dropped(a->mqtt),
		.lost = iotcar_mqtt_lost(a->mqtt),
	};
	struct hal_pose pose;
	char buf[AGENT_PAYLOAD_MAX];

	/* The wall clock may have moved since (NTP): the start by it now. */
	clock_gettime(CLOCK_REALTIME, &now);
	t.started_s =
		((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - up_ms) /
		1000;
	health_read(&t);
	if (hal_get_pose(a->hal, &pose) == 0) {
		t.has_pose = true;
		t.x_cm = pose.x_cm;
		t.y_cm = pose.y_cm;
		t.heading_deg = pose.heading_deg;
		t.odometer_cm = pose.odometer_cm;
	}
	agent_publish(a, IOTCAR_TOPIC_TELEMETRY, buf,
		      iotcar_telemetry_format(&t, buf, sizeof(buf)), 0, false);
}

static void agent_on_telemetry_timer(void *ctx)
{
	struct agent *a = ctx;
	/* Setting the same duties again reports a fault a thread ran into. */
	int ret = hal_set_outputs(a->hal, &a->out);

	if (ret) {
		agent_fault(a, ret);
		return;
	}
	agent_publish_telemetry(a);
}

/* ==== Outputs ==== */

/* Bring the hardware in line with the safety rules, then the state. */
static void agent_apply(struct agent *a)
{
	struct motor_outputs out;
	int ret;

	if (a->safety.deadline_ms)
		iotcar_timer_start_at(a->deadman, a->safety.deadline_ms);
	else
		iotcar_timer_stop(a->deadman);
	safety_outputs(&a->safety, &out);
	if (a->esc_timer) {
		int64_t wake_ms;

		out.left = motor_esc_throttle(&a->esc, out.left,
					      iotcar_clock_ms(), &wake_ms);
		out.right = out.left;
		if (wake_ms)
			iotcar_timer_start_at(a->esc_timer, wake_ms);
		else
			iotcar_timer_stop(a->esc_timer);
	}
	if (!motor_outputs_same(&out, &a->out)) {
		ret = hal_set_outputs(a->hal, &out);
		if (ret) {
			agent_fault(a, ret);
			return;
		}
		a->out = out;
	}
	agent_state_changed(a);
}

/* The next step of the ESC's reverse arming. */
static void agent_on_esc_timer(void *ctx)
{
	agent_apply(ctx);
}

static void agent_on_deadman(void *ctx)
{
	struct agent *a = ctx;
	struct iotcar_event ev = {.event = "failsafe", .reason = "ttl"};
	int ttl_ms = a->safety.ttl_ms;

	if (!safety_expire(&a->safety, iotcar_clock_ms())) {
		/* Woken early: wait for the real deadline. */
		agent_apply(a);
		return;
	}
	log_info("failsafe: no drive command for %d ms, stopped", ttl_ms);
	agent_apply(a);
	agent_event(a, &ev, false);
}

static void agent_on_sensor(void *ctx, int fd, uint32_t events)
{
	struct agent *a = ctx;
	double cm = 0.0;
	bool valid;

	(void)fd;
	(void)events;
	valid = hal_read_distance(a->hal, &cm) == 0;
	if (safety_set_distance(&a->safety, valid, cm) & SAFETY_EV_OBSTACLE) {
		struct iotcar_event ev = {.event = "obstacle",
					  .has_distance = true,
					  .distance_cm = cm};

		log_info("obstacle at %.1f cm: forward motion blocked", cm);
		agent_apply(a);
		agent_event(a, &ev, false);
		return;
	}
	agent_apply(a);
}

/* ==== Home Assistant discovery ==== */

/* Discovery configs are retained, so Home Assistant finds them later. */
static void agent_on_ha_config(void *ctx, const char *topic,
			       const char *payload, size_t len)
{
	struct iotcar_mqtt_pub p = {
		.topic = topic, .payload = payload, .qos = 1, .retain = true};

	agent_send(ctx, &p, (int)len);
}

static void agent_ha_announce(struct agent *a)
{
	int ret = discovery_announce(&a->ha, a->ha_mode, agent_on_ha_config, a);

	if (ret)
		log_error("Home Assistant discovery: %s", strerror(-ret));
}

static void agent_on_ha_timer(void *ctx)
{
	struct agent *a = ctx;

	log_info("Home Assistant is back: announcing the car again");
	agent_ha_announce(a);
	/* Its entities read the state afresh after a new config. */
	agent_publish_state(a);
}

/* Home Assistant's birth message: announce again, after a random delay. */
static void agent_on_ha_status(struct agent *a,
			       const struct iotcar_mqtt_msg *msg)
{
	int delay = a->cfg->ha_birth_delay_ms;

	if (msg->len != 6 || memcmp(msg->payload, "online", 6))
		return;
	iotcar_timer_start(
		a->ha_timer,
		delay ? (int)arc4random_uniform((uint32_t)delay + 1) : 0, 0);
}

/* ==== Answers ==== */

static bool agent_is_usable_topic(const char *t)
{
	size_t n = strlen(t);

	return n > 0 && n < 256 && iotcar_text_is_valid(t, n) &&
	       !strpbrk(t, "+#");
}

/* Answer a command: result and, for unusable input, an event. */
static void agent_finish(struct agent *a, const struct agent_cmd *cmd,
			 const struct iotcar_error *err)
{
	bool refused = err && err->code != IOTCAR_ERR_NONE;
	const struct iotcar_mqtt_msg *msg = cmd->msg;
	char buf[AGENT_PAYLOAD_MAX];
	struct iotcar_mqtt_pub p = {.payload = buf, .qos = 1};
	int len;

	a->commands++;
	if (refused) {
		a->rejected++;
		log_debug("%s on %s refused: %s: %s", cmd->name, msg->topic,
			  iotcar_err_name(err->code), err->message);
	}
	/* Behind a flood, the broker may lose results; never an e-stop's. */
	p.droppable = strcmp(cmd->name, "estop") && !cmd->latch;
	len = iotcar_result_format(cmd->name, &cmd->id, refused ? err : NULL,
				   cmd->latch, buf, sizeof(buf));
	if (cmd->id.present || refused) {
		p.topic = a->topic[IOTCAR_TOPIC_RESULT];
		agent_send(a, &p, len);
	}
	if (msg->response_topic && agent_is_usable_topic(msg->response_topic)) {
		p.topic = msg->response_topic;
		p.correlation = msg->correlation;
		p.correlation_len = msg->correlation_len;
		agent_send(a, &p, len);
	}
	/* Refusals the sender hears in its result are not bad input. */
	if (refused && err->code != IOTCAR_ERR_ESTOP &&
	    err->code != IOTCAR_ERR_BLOCKED && err->code != IOTCAR_ERR_STALE) {
		struct iotcar_event ev = {
			.event = err->code == IOTCAR_ERR_RETAINED
					 ? "retained_ignored"
					 : "bad_command",
			.topic = msg->topic,
			.err = err,
		};
		agent_event(a, &ev, true);
	}
}

/* ==== Commands ==== */

static void agent_set_idle(struct agent *a, bool idle, int64_t now);

/* The telemetry period of an idle car: the slower of the two settings. */
static int agent_idle_telemetry_ms(const struct agent_settings *s)
{
	return s->telemetry_idle_ms > s->telemetry_ms ? s->telemetry_idle_ms
						      : s->telemetry_ms;
}

/*
 * A drive command. One that moves must be fresh (link.h); a stop never
 * needs to be, and a stale command leaves the car as it is: stopped by the
 * link loss that made it stale, or driving on a fresher one.
 */
static int agent_drive(struct agent *a, const struct iotcar_drive *d,
		       const struct iotcar_freshness *fresh,
		       struct iotcar_error *err)
{
	int64_t now = iotcar_clock_ms();
	struct iotcar_drive at = *d;
	int ret;

	a->drive_ms = now;
	agent_set_idle(a, false, now);
	/* "forward" alone: at the car's speed (set {"speed": N}). */
	iotcar_drive_use_speed(&at, a->speed);
	/* Under the e-stop, the latch is the answer (safety_drive). */
	if ((at.throttle || at.steer) && !a->safety.estop &&
	    link_check_fresh(&a->link, fresh, now, err))
		return -ESTALE;
	ret = safety_drive(&a->safety, &at, now, err);
	agent_apply(a);
	return ret;
}

static uint32_t agent_new_latch(struct agent *a)
{
	uint32_t n = a->next_latch;

	a->next_latch = n >= IOTCAR_SERIAL_MAX ? 1 : n + 1;
	return n;
}

/* Latch as a new latch (every ON is one), and say so on a change. */
static uint32_t agent_latch(struct agent *a, const char *reason,
			    const char *message)
{
	uint32_t n = agent_new_latch(a);
	struct iotcar_event ev = {.event = "estop",
				  .estop = "ON",
				  .estop_latch = n,
				  .reason = reason,
				  .message = message};

	unsigned changed = safety_latch(&a->safety, n, iotcar_clock_ms());

	agent_apply(a);
	if (changed) {
		log_info("e-stop latched (latch %u): motors off", (unsigned)n);
		agent_event(a, &ev, false);
	}
	return n;
}

/* ON latches; OFF releases, as safety_release() allows. */
static void agent_estop(struct agent *a, struct agent_cmd *cmd, bool on,
			uint32_t latch, struct iotcar_error *err)
{
	struct iotcar_event ev = {.event = "estop", .estop = "OFF"};
	int ret;

	if (on) {
		cmd->latch = agent_latch(a, NULL, NULL);
		return;
	}
	ret = safety_release(&a->safety, latch, iotcar_clock_ms(), err);
	if (ret <= 0)
		return;
	log_info("e-stop released");
	agent_apply(a);
	agent_event(a, &ev, false);
}

static void agent_speed_limit(struct agent *a, int pct)
{
	safety_set_speed_limit(&a->safety, pct);
	agent_apply(a);
}

static void agent_cmd_set(struct agent *a, struct agent_cmd *cmd)
{
	struct iotcar_error err = {0};
	struct iotcar_set set;

	if (iotcar_set_parse(cmd->msg->payload, cmd->msg->len, &set, &err)) {
		cmd->id = set.id;
		agent_finish(a, cmd, &err);
		return;
	}
	cmd->id = set.id;
	if (set.fields == IOTCAR_SET_DRIVE)
		cmd->name = "drive";
	else if (set.fields == IOTCAR_SET_SPEED_LIMIT)
		cmd->name = "speed_limit";
	else if (set.fields == IOTCAR_SET_ESTOP)
		cmd->name = "estop";
	else if (set.fields == IOTCAR_SET_SPEED)
		cmd->name = "speed";
	/* The latch first, then the limit, then motion under both. */
	if (set.fields & IOTCAR_SET_ESTOP)
		agent_estop(a, cmd, set.estop, set.estop_latch, &err);
	if (set.fields & IOTCAR_SET_SPEED_LIMIT)
		agent_speed_limit(a, set.speed_limit);
	if (set.fields & IOTCAR_SET_SPEED) {
		a->speed = set.speed;
		agent_apply(a);
	}
	if ((set.fields & IOTCAR_SET_DRIVE) && !err.code)
		agent_drive(a, &set.drive, &set.fresh, &err);
	agent_finish(a, cmd, &err);
}

static void agent_cmd_drive(struct agent *a, struct agent_cmd *cmd)
{
	struct iotcar_error err = {0};
	struct iotcar_freshness fresh = {0};
	struct iotcar_drive d;

	if (iotcar_drive_parse(cmd->msg->payload, cmd->msg->len, &d, &err) == 0)
		agent_drive(a, &d, &fresh, &err);
	agent_finish(a, cmd, &err);
}

static void agent_cmd_speed_limit(struct agent *a, struct agent_cmd *cmd)
{
	struct iotcar_error err = {0};
	int pct;

	if (iotcar_speed_limit_parse(cmd->msg->payload, cmd->msg->len, &pct,
				     &err) == 0)
		agent_speed_limit(a, pct);
	agent_finish(a, cmd, &err);
}

static void agent_cmd_estop(struct agent *a, struct agent_cmd *cmd)
{
	struct iotcar_error err = {0};
	uint32_t latch;
	bool on;

	if (iotcar_estop_parse(cmd->msg->payload, cmd->msg->len, &on, &latch,
			       &err) == 0)
		agent_estop(a, cmd, on, latch, &err);
	agent_finish(a, cmd, &err);
}

static void agent_cmd_get(struct agent *a, struct agent_cmd *cmd)
{
	agent_publish_state(a);
	agent_publish_telemetry(a);
	agent_finish(a, cmd, NULL);
}

/* ==== The link ==== */

/*
 * The link is gone (@p reason "lost", "taken_over" or "silent"): stop, and
 * tell about it once it is back. Commands still on their way are refused
 * as stale from here on (link.h).
 */
static void agent_link_lost(struct agent *a, const char *reason, int code,
			    const char *message)
{
	if (a->link.state == LINK_DOWN)
		return;
	link_down(&a->link, iotcar_clock_ms());
	iotcar_timer_stop(a->link_timer);
	iotcar_timer_stop(a->silence_timer);
	a->loss_pending = true;
	a->loss_reason = reason;
	a->loss_code = code;
	iotcar_strlcpy(a->loss_message, message, sizeof(a->loss_message));
	if (safety_link_lost(&a->safety)) {
		a->link_failsafe = true;
		log_warning("failsafe: %s: motors stopped", message);
	}
	agent_apply(a);
}

/* Nothing heard for @p quiet_ms: the link is dead, whatever TCP thinks. */
static void agent_link_silent(struct agent *a, int64_t quiet_ms)
{
	char why[120];

	/* Not one ping back since connecting: most likely an ACL. */
	if (a->link.state == LINK_SYNCING && !a->link_warned) {
		a->link_warned = true;
		log_error("link: none of this car's pings came back since "
			  "connecting: the broker's ACL must let it publish "
			  "and read %s",
			  a->topic[IOTCAR_TOPIC_LINK]);
	}
	snprintf(why, sizeof(why),
		 "nothing heard for %lld ms (a partition, a frozen broker, or "
		 "this car stalled)",
		 (long long)quiet_ms);
	agent_link_lost(a, "silent", 0, why);
	iotcar_mqtt_reconnect(a->mqtt, why);
}

static void agent_ping(struct agent *a, int64_t now)
{
	char n[16];

	snprintf(n, sizeof(n), "%u", (unsigned)link_ping(&a->link, now));
	agent_publish(a, IOTCAR_TOPIC_LINK, n, (int)strlen(n), 0, false);
}

/*
 * Armed for the moment the link would have been silent for its timeout,
 * and moved on lazily: something heard since then just sets it again for
 * the new moment, so a busy link costs no timer call a message.
 */
static void agent_arm_silence(struct agent *a)
{
	iotcar_timer_start_at(a->silence_timer,
			      a->link.heard_ms + link_silence_ms(&a->link) + 1);
}

/* The telemetry period now: slower while idle. */
static int agent_telemetry_ms(const struct agent *a)
{
	return a->link.idle ? agent_idle_telemetry_ms(a->cfg)
			    : a->cfg->telemetry_ms;
}

/*
 * Idle (stopped, no drive command for AGENT_IDLE_AFTER_MS) or not: the
 * pings and the telemetry at that pace (link.h). Waking pings at once, so
 * the commands that follow quote a ping of the busy pace.
 */
static void agent_set_idle(struct agent *a, bool idle, int64_t now)
{
	if (a->link.idle == idle)
		return;
	link_set_idle(&a->link, idle);
	log_debug("link: %s", idle ? "idle: pinging half as often"
				   : "busy: pinging four times a timeout");
	if (a->link.state != LINK_DOWN) {
		if (!idle)
			agent_ping(a, now);
		iotcar_timer_start(a->link_timer, link_ping_ms(&a->link),
				   link_ping_ms(&a->link));
		agent_arm_silence(a);
	}
	iotcar_timer_start(a->telemetry_timer, agent_telemetry_ms(a),
			   agent_telemetry_ms(a));
}

static void agent_on_silence_timer(void *ctx)
{
	struct agent *a = ctx;
	int64_t now = iotcar_clock_ms();

	if (link_is_silent(&a->link, now))
		agent_link_silent(a, now - a->link.heard_ms);
	else if (a->link.state != LINK_DOWN)
		agent_arm_silence(a);
}

static void agent_on_link_timer(void *ctx)
{
	struct agent *a = ctx;
	int64_t now = iotcar_clock_ms();

	if (!a->link.idle && !a->out.left && !a->out.right &&
	    now - a->drive_ms >= AGENT_IDLE_AFTER_MS)
		agent_set_idle(a, true, now);
	agent_ping(a, now);
	/* A flood's drops and losses, once per burst. */
	iotcar_log_burst_tick(&a->drop_burst, iotcar_mqtt_dropped(a->mqtt),
			      now);
	iotcar_log_burst_tick(&a->lost_burst, iotcar_mqtt_lost(a->mqtt), now);
}

static void agent_report_loss(struct agent *a, int64_t now);

/*
 * The first round trip of a connection is done: the car can be driven,
 * and only now says `online` (whoever sees it can drive at once).
 */
static void agent_link_up(struct agent *a, int64_t now)
{
	log_info("link up: %s online", a->cfg->id);
	agent_publish(a, IOTCAR_TOPIC_STATUS, "online", 6, 1, true);
	agent_publish_state(a);
	agent_ha_announce(a);
	agent_report_loss(a, now);
}

/* One of our pings came back. */
static void agent_on_echo(struct agent *a, const struct iotcar_mqtt_msg *msg)
{
	enum link_state was = a->link.state;
	long n;

	if (!msg->payload ||
	    iotcar_parse_long(msg->payload, 1, IOTCAR_SERIAL_MAX, &n) ||
	    !link_echo(&a->link, (uint32_t)n))
		return;
	if (was == LINK_SYNCING && a->link.state == LINK_UP)
		agent_link_up(a, iotcar_clock_ms());
}

/* ==== Messages ==== */

static void agent_on_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct agent *a = ctx;
	struct agent_cmd cmd = {.msg = msg};
	struct iotcar_error err = {0};
	char car[IOTCAR_ID_MAX + 1];
	enum iotcar_topic_kind kind;
	int64_t now = iotcar_clock_ms();
	int64_t quiet = now - a->link.heard_ms;

	if (a->stopped)
		return;
	/* Woken after a long quiet: this car's loop stood still (SIGSTOP, a
	 * hung write), and what arrives now waited all that time. */
	if (link_heard(&a->link, now))
		agent_link_silent(a, quiet);
	if (!strcmp(msg->topic, a->topic[IOTCAR_TOPIC_LINK])) {
		agent_on_echo(a, msg);
		return;
	}
	if (a->ha_mode != DISCOVERY_OFF && !strcmp(msg->topic, a->ha_status)) {
		agent_on_ha_status(a, msg);
		return;
	}
	if (iotcar_topic_parse(a->cfg->common.prefix, msg->topic, car, &kind))
		return;
	log_debug("%s: %zu bytes%s", msg->topic, msg->len,
		  msg->retained ? ", retained" : "");
	switch (kind) {
	case IOTCAR_TOPIC_SET:
		cmd.name = "set";
		break;
	case IOTCAR_TOPIC_SET_DRIVE:
		cmd.name = "drive";
		break;
	case IOTCAR_TOPIC_SET_SPEED_LIMIT:
		cmd.name = "speed_limit";
		break;
	case IOTCAR_TOPIC_SET_ESTOP:
		cmd.name = "estop";
		break;
	case IOTCAR_TOPIC_GET:
		cmd.name = "get";
		break;
	default:
		return;
	}
	if (msg->retained) {
		/* An empty retained message is someone clearing one: fine. */
		if (msg->len == 0)
			return;
		iotcar_error_set(&err, IOTCAR_ERR_RETAINED,
				 "retained commands are never acted on; clear "
				 "it with: mosquitto_pub -r -n -t %s",
				 msg->topic);
		agent_finish(a, &cmd, &err);
		return;
	}
	if (kind != IOTCAR_TOPIC_GET &&
	    (msg->oversize || msg->len > IOTCAR_COMMAND_MAX)) {
		iotcar_error_set(&err, IOTCAR_ERR_TOO_LONG,
				 "command is %zu bytes, the limit is %d",
				 msg->len, IOTCAR_COMMAND_MAX);
		agent_finish(a, &cmd, &err);
		return;
	}
	switch (kind) {
	case IOTCAR_TOPIC_SET:
		agent_cmd_set(a, &cmd);
		break;
	case IOTCAR_TOPIC_SET_DRIVE:
		agent_cmd_drive(a, &cmd);
		break;
	case IOTCAR_TOPIC_SET_SPEED_LIMIT:
		agent_cmd_speed_limit(a, &cmd);
		break;
	case IOTCAR_TOPIC_SET_ESTOP:
		agent_cmd_estop(a, &cmd);
		break;
	default:
		agent_cmd_get(a, &cmd);
		break;
	}
}

/* ==== The connection ==== */

/* Back after a loss: say what happened, once. */
static void agent_report_loss(struct agent *a, int64_t now)
{
	struct iotcar_event ev = {.event = "link_lost",
				  .reason = a->loss_reason,
				  .has_down_ms = true,
				  .down_ms = now - a->link.down_ms,
				  .reason_code = a->loss_code,
				  .message = a->loss_message};
	struct iotcar_event fs = {.event = "failsafe", .reason = "link_lost"};

	if (a->loss_pending) {
		a->loss_pending = false;
		agent_event(a, &ev, false);
	}
	if (a->link_failsafe) {
		a->link_failsafe = false;
		agent_event(a, &fs, false);
	}
}

static void agent_on_connected(void *ctx)
{
	struct agent *a = ctx;
	struct iotcar_mqtt_sub subs[2 * 4 + 3];
	int64_t now = iotcar_clock_ms();
	size_t n = 0;
	int ret;

	for (size_t i = 0;
	     i < sizeof(agent_commands) / sizeof(agent_commands[0]); i++) {
		subs[n++] = (struct iotcar_mqtt_sub){
			.topic = a->topic[agent_commands[i].kind],
			.qos = agent_commands[i].qos};
		subs[n++] = (struct iotcar_mqtt_sub){
			.topic = a->all_topic[agent_commands[i].kind],
			.qos = agent_commands[i].qos};
	}
	subs[n++] = (struct iotcar_mqtt_sub){
		.topic = a->topic[IOTCAR_TOPIC_GET], .qos = 1};
	/* QoS 0, like the drive commands whose freshness it proves. */
	subs[n++] = (struct iotcar_mqtt_sub){
		.topic = a->topic[IOTCAR_TOPIC_LINK], .qos = 0};
	if (a->ha_mode != DISCOVERY_OFF)
		subs[n++] = (struct iotcar_mqtt_sub){.topic = a->ha_status,
						     .qos = 1};
	ret = iotcar_mqtt_subscribe(a->mqtt, subs, n);
	if (ret)
		log_error("cannot subscribe: %s", strerror(-ret));
	/* After the subscriptions, so the broker has them: the first round
	 * trip starts now, and the car is online when it ends. */
	a->connected_ms = now;
	link_connected(&a->link, now);
	agent_ping(a, now);
	iotcar_timer_start(a->link_timer, link_ping_ms(&a->link),
			   link_ping_ms(&a->link));
	agent_arm_silence(a);
}

/*
 * The connection is gone. A broker that says why (MQTT v5 reason 0x8E,
 * session taken over) names another client with our client id. Mosquitto
 * up to 2.0.20 closes the socket before its DISCONNECT goes out, so there
 * the car can only see the pattern: connections the broker keeps closing
 * within seconds of their start.
 */
static void agent_on_disconnected(void *ctx, const char *reason, int code)
{
	struct agent *a = ctx;
	int64_t now = iotcar_clock_ms();
	char why[200];

	if (code == IOTCAR_MQTT_SESSION_TAKEN_OVER) {
		snprintf(why, sizeof(why),
			 "another MQTT client connected with this car's client "
			 "id '%.60s', and the broker dropped this one",
			 a->client_id);
		log_error("%s (MQTT reason 0x%02X): is a second car-agent "
			  "running with --id %s? Coming back in %d ms",
			  why, (unsigned)code, a->cfg->id,
			  a->cfg->common.reconnect_max_ms);
		agent_link_lost(a, "taken_over", code, why);
		return;
	}
	/* A connection this car gave up on itself (silence) tells nothing
	 * of the broker. */
	if (a->link.state == LINK_DOWN)
		return;
	a->short_links = now - a->connected_ms < AGENT_SHORT_LINK_MS
				 ? a->short_links + 1
				 : 0;
	if (a->short_links >= 2) {
		snprintf(why, sizeof(why),
			 "the broker closed this car's connection %d times in "
			 "a row within seconds of its start: is another client "
			 "using its client id '%.60s'?",
			 a->short_links, a->client_id);
		if (a->short_links == 2)
			log_error("%s A second car-agent with --id %s, or a "
				  "broker refusing something it does?",
				  why, a->cfg->id);
	} else {
		snprintf(why, sizeof(why), "MQTT link lost (%s)", reason);
	}
	agent_link_lost(a, "lost", code, why);
}

/*
 * On Paho's receive thread (mqtt.h): the messages no queue may drop,
 * whatever floods the car — an e-stop, a stop, a speed limit. It reads
 * the message and the prefix, nothing that changes.
 */
static bool agent_keep(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	const struct agent *a = ctx;
	char car[IOTCAR_ID_MAX + 1];
	enum iotcar_topic_kind kind;
	struct iotcar_drive d;
	struct iotcar_set set;

	if (!msg->payload ||
	    iotcar_topic_parse(a->cfg->common.prefix, msg->topic, car, &kind))
		return false;
	switch (kind) {
	case IOTCAR_TOPIC_SET_ESTOP:
	case IOTCAR_TOPIC_SET_SPEED_LIMIT:
		return true;
	case IOTCAR_TOPIC_SET_DRIVE:
		return !iotcar_drive_parse(msg->payload, msg->len, &d, NULL) &&
		       !d.throttle && !d.steer;
	case IOTCAR_TOPIC_SET:
		if (iotcar_set_parse(msg->payload, msg->len, &set, NULL))
			return false;
		return (set.fields &
			(IOTCAR_SET_ESTOP | IOTCAR_SET_SPEED_LIMIT |
			 IOTCAR_SET_SPEED)) ||
		       !(set.drive.throttle || set.drive.steer);
	default:
		return false;
	}
}

/* The inbox could not keep every e-stop and stop: latch, to be safe. */
static void agent_on_overload(void *ctx)
{
	struct agent *a = ctx;
	static const char msg[] =
		"the car fell so far behind that e-stops and stops could not "
		"all be kept: latched to be safe";

	log_error("%s", msg);
	agent_latch(a, "overload", msg);
}

/* ==== Life cycle ==== */

static void agent_fault(struct agent *a, int err)
{
	log_error("hardware fault: %s; stopping the car and exiting",
		  strerror(-err));
	a->exit_code = 1;
	agent_stop(a);
}

static int agent_build_topics(struct agent *a)
{
	const char *prefix = a->cfg->common.prefix;

	for (int k = 0; k < IOTCAR_TOPIC_KIND_COUNT; k++) {
		if (iotcar_topic_build(a->topic[k], sizeof(a->topic[k]), prefix,
				       a->cfg->id, (enum iotcar_topic_kind)k) ||
		    iotcar_topic_build(a->all_topic[k], sizeof(a->all_topic[k]),
				       prefix, IOTCAR_ALL_CARS,
				       (enum iotcar_topic_kind)k))
			return -EINVAL;
	}
	return 0;
}

struct agent *agent_new(struct iotcar_loop *loop,
			const struct agent_settings *settings, struct hal *hal,
			const struct iotcar_mqtt_opts *mqtt_opts)
{
	static const struct iotcar_mqtt_handlers handlers = {
		.connected = agent_on_connected,
		.disconnected = agent_on_disconnected,
		.message = agent_on_message,
		.keep = agent_keep,
		.overload = agent_on_overload,
	};
	struct safety_config sc = {
		.ttl_ms = settings->ttl_ms,
		.max_ttl_ms = settings->max_ttl_ms,
		.stop_distance_cm = settings->stop_distance_cm,
		.clear_margin_cm = AGENT_CLEAR_MARGIN_CM,
		.estop_guard_ms = settings->estop_guard_ms,
		.drivetrain = settings_drivetrain(settings),
	};
	struct link_config lc = {
		.timeout_ms = settings->link_timeout_ms,
		.max_age_ms = settings->max_command_age_ms,
	};
	struct iotcar_mqtt_opts mo = *mqtt_opts;
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->loop = loop;
	a->cfg = settings;
	a->hal = hal;
	safety_init(&a->safety, &sc, settings->speed_limit);
	a->speed = settings->speed;
	/* Random starts: no number of a restarted car is ever one of the
	 * numbers its last run used. */
	link_init(&a->link, &lc, 1 + arc4random_uniform(1u << 30));
	a->next_latch = 1 + arc4random_uniform(1u << 30);
	a->drop_burst.what = "drive commands dropped: the car fell behind a "
			     "flood of them (telemetry: dropped)";
	a->lost_burst.what = "results lost: the outgoing queue is full "
			     "(telemetry: lost)";
	iotcar_strlcpy(a->client_id, mqtt_opts->client_id,
		       sizeof(a->client_id));
	if (agent_build_topics(a)) {
		errno = EINVAL;
		goto err;
	}
	mo.will_topic = a->topic[IOTCAR_TOPIC_STATUS];
	mo.will_payload = "offline";
	a->deadman = iotcar_timer_new(loop, agent_on_deadman, a);
	a->state_timer = iotcar_timer_new(loop, agent_on_state_timer, a);
	a->telemetry_timer =
		iotcar_timer_new(loop, agent_on_telemetry_timer, a);
	a->ha_timer = iotcar_timer_new(loop, agent_on_ha_timer, a);
	a->link_timer = iotcar_timer_new(loop, agent_on_link_timer, a);
	a->silence_timer = iotcar_timer_new(loop, agent_on_silence_timer, a);
	if (!a->deadman || !a->state_timer || !a->telemetry_timer ||
	    !a->ha_timer || !a->link_timer || !a->silence_timer)
		goto err;
	if (settings_drivetrain(settings) == MOTOR_ACKERMANN &&
	    !strcmp(settings->esc_reverse, "double_tap")) {
		a->esc_timer = iotcar_timer_new(loop, agent_on_esc_timer, a);
		if (!a->esc_timer)
			goto err;
	}
	a->ha = (struct discovery_car){
		.prefix = settings->common.prefix,
		.id = settings->id,
		.ha_prefix = settings->ha_prefix,
		.hal = hal->name,
		/* Idle, the slower: its sensors must not expire. */
		.telemetry_ms = agent_idle_telemetry_ms(settings),
		.configuration_url = a->ha_url,
	};
	if (discovery_mode_parse(settings->ha_discovery, &a->ha_mode) ||
	    discovery_dashboard_url(settings->ha_dashboard_url,
				    settings->common.broker, settings->id,
				    a->ha_url, sizeof(a->ha_url)) ||
	    discovery_status_topic(&a->ha, a->ha_status,
				   sizeof(a->ha_status))) {
		errno = EINVAL;
		goto err;
	}
	a->mqtt = iotcar_mqtt_new(loop, &mo, &handlers, a);
	if (!a->mqtt)
		goto err;
	return a;
err:
	agent_free(a);
	return NULL;
}

int agent_start(struct agent *a)
{
	double cm = 0.0;
	bool valid;
	int ret;

	a->started_ms = iotcar_clock_ms();
	if (a->hal->event_fd >= 0) {
		ret = iotcar_loop_add_fd(a->loop, a->hal->event_fd, EPOLLIN,
					 agent_on_sensor, a);
		if (ret)
			return ret;
		a->sensing = true;
		valid = hal_read_distance(a->hal, &cm) == 0;
		safety_set_distance(&a->safety, valid, cm);
	}
	iotcar_timer_start(a->telemetry_timer, agent_telemetry_ms(a),
			   agent_telemetry_ms(a));
	log_info("car %s on the %s hardware layer, broker %s", a->cfg->id,
		 a->hal->name, a->cfg->common.broker);
	return iotcar_mqtt_start(a->mqtt);
}

void agent_stop(struct agent *a)
{
	struct motor_outputs stopped;

	if (a->stopped)
		return;
	a->stopped = true;
	/* Motors first: whatever happens to MQTT below, the car stands. */
	safety_stop(&a->safety);

	safety_outputs(&a->safety, &stopped);
	if (hal_set_outputs(a->hal, &stopped) == 0)
		a->out = stopped;
	if (a->sensing) {
		iotcar_loop_del_fd(a->loop, a->hal->event_fd);
		a->sensing = false;
	}
	if (iotcar_mqtt_is_connected(a->mqtt)) {
		agent_publish_state(a);
		agent_publish(a, IOTCAR_TOPIC_STATUS, "offline", 7, 1, true);
	}
	iotcar_timer_stop(a->deadman);
	if (a->esc_timer)
		iotcar_timer_stop(a->esc_timer);
	iotcar_timer_stop(a->state_timer);
	iotcar_timer_stop(a->telemetry_timer);
	iotcar_timer_stop(a->ha_timer);
	iotcar_timer_stop(a->link_timer);
	iotcar_timer_stop(a->silence_timer);
	if (iotcar_mqtt_stop(a->mqtt, AGENT_STOP_TIMEOUT_MS))
		log_warning("the broker did not confirm the disconnect");
	iotcar_loop_stop(a->loop);
}

int agent_exit_code(const struct agent *a)
{
	return a->exit_code;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	if (a->mqtt)
		agent_stop(a);
	iotcar_mqtt_free(a->mqtt);
	iotcar_timer_free(a->deadman);
	iotcar_timer_free(a->esc_timer);
	iotcar_timer_free(a->state_timer);
	iotcar_timer_free(a->telemetry_timer);
	iotcar_timer_free(a->ha_timer);
	iotcar_timer_free(a->link_timer);
	iotcar_timer_free(a->silence_timer);
	free(a);
}

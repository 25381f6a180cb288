// SPDX-License-Identifier: MIT
/*
 * server.c: car-bridge's sockets; see server.h. Clients live in an array
 * indexed by fd. A client is never freed inside a callback that may still
 * hold it: server_kill() closes its socket at once and leaves the memory
 * to a reaper that runs after the callback returns.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "iotcar/log.h"
#include "iotcar/text.h"
#include "proto.h"
#include "router.h"
#include "throttle.h"

#define SERVER_READ_CHUNK 4096
/* Bytes read from one client per wake-up, so no one starves the rest. */
#define SERVER_READ_BUDGET 65536
#define SERVER_ACCEPT_BUDGET 256
#define SERVER_UDP_MAX 512
/* "ERR auth-required\n": a shorter datagram gets no answer at all. */
#define SERVER_UDP_MIN_REPLY 18
#define SERVER_UDP_WAITS 1024
/* A burst client's tail that may be a cut word waits this long. */
#define SERVER_BURST_WAIT_MS 20
#define SERVER_AUTH_TRIES 3

static const char server_help[] =
	"commands: forward|backward|left|right [speed] [ms], drive "
	"<throttle> <steer> [ms], stop, w a s d x, speed <0-100>, estop, "
	"release, status, watch, unwatch, cars, use <car>, ping, help, quit, "
	"auth <token>; or a JSON line {\"cmd\":...}";

enum listener_kind {
	LISTENER_TCP,
	LISTENER_UDP,
	LISTENER_RAW,
};

struct raw_channel {
	const struct raw_config *cfg;
};

struct listener {
	struct server *srv;
	enum listener_kind kind;
	int fd;
	bool needs_auth;
	struct raw_channel *raw;
	/* UDP: one rate limit for the whole listener. */
	struct bucket rate;
	char name[96];
};

/* A UDP request waiting for the car. */
struct udp_wait {
	bool used;
	uint64_t tag;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct proto_request req;
	char detail[64];
};

struct server {
	struct iotcar_loop *loop;
	const struct bridge_settings *cfg;
	struct router *router;
	struct listener listeners[2 + SETTINGS_RAW_MAX];
	size_t nlisteners;
	struct raw_channel raws[SETTINGS_RAW_MAX];
	/* Clients by fd. */
	struct client **clients;
	size_t clients_cap;
	size_t nclients;
	struct client *watchers;
	/* Closed clients whose memory the reaper frees. */
	struct client **dead;
	size_t ndead;
	size_t dead_cap;
	struct iotcar_timer *reaper;
	struct iotcar_timer *sweep;
	struct iotcar_timer *burst;
	size_t nburst;
	uint64_t next_gen;
	char token[PROTO_TOKEN_MAX + 1];
	bool has_token;
	struct udp_wait *udp_waits;
	uint64_t udp_tag;
	/* Wrong tokens per address, TCP and UDP. */
	struct throttle throttle;
	/* Kept open to be closed when accept() hits EMFILE. */
	int spare_fd;
	bool stopped;
};

static void server_on_client(void *ctx, int fd, uint32_t events);

/* ==== Clients: bookkeeping ==== */

static void server_unwatch(struct server *srv, struct client *c)
{
	if (!c->watching)
		return;
	if (c->watch_prev)
		c->watch_prev->watch_next = c->watch_next;
	else
		srv->watchers = c->watch_next;
	if (c->watch_next)
		c->watch_next->watch_prev = c->watch_prev;
	c->watch_prev = c->watch_next = NULL;
	c->watching = false;
}

static void server_watch(struct server *srv, struct client *c)
{
	if (c->watching)
		return;
	c->watching = true;
	c->watch_prev = NULL;
	c->watch_next = srv->watchers;
	if (srv->watchers)
		srv->watchers->watch_prev = c;
	srv->watchers = c;
}

static void server_on_reap(void *ctx)
{
	struct server *srv = ctx;

	for (size_t i = 0; i < srv->ndead; i++)
		client_free(srv->dead[i]);
	srv->ndead = 0;
}

/* Close a client now; its memory goes after the current callback. */
static void server_kill(struct server *srv, struct client *c)
{
	struct client **dead;

	if (c->fd < 0)
		return;
	server_unwatch(srv, c);
	iotcar_loop_del_fd(srv->loop, c->fd);
	srv->clients[c->fd] = NULL;
	close(c->fd);
	c->fd = -1;
	srv->nclients--;
	if (c->partial_ms && !c->frame.line_mode && srv->nburst)
		srv->nburst--;
	if (srv->ndead == srv->dead_cap) {
		size_t cap = srv->dead_cap ? srv->dead_cap * 2 : 64;

		dead = realloc(srv->dead, cap * sizeof(*dead));
		if (!dead) {
			/* Leak rather than free under a caller's feet. */
			log_error("out of memory reaping a client");
			return;
		}
		srv->dead = dead;
		srv->dead_cap = cap;
	}
	srv->dead[srv->ndead++] = c;
	iotcar_timer_start(srv->reaper, 0, 0);
}

/* Done with a closing client once all it is owed has been written. */
static void server_maybe_close(struct server *srv, struct client *c)
{
	if (c->fd >= 0 && c->closing && c->nslots == 0 && c->out_len == 0)
		server_kill(srv, c);
}

static void server_update_events(struct server *srv, struct client *c)
{
	uint32_t ev = 0;

	if (c->fd < 0)
		return;
	if (!c->paused && !c->closing)
		ev |= EPOLLIN;
	if (c->want_write)
		ev |= EPOLLOUT;
	iotcar_loop_mod_fd(srv->loop, c->fd, ev);
}

/* After any output: a slow reader is dropped, never waited for. */
static void server_after_send(struct server *srv, struct client *c, int ret)
{
	if (c->fd < 0)
		return;
	if (ret == -ENOBUFS) {
		log_warning_limited("%s: dropped: does not read its replies "
				    "(%zu bytes waiting)",
				    c->peer, c->out_len);
		server_kill(srv, c);
		return;
	}
	if (ret) {
		server_kill(srv, c);
		return;
	}
	if (c->paused && c->nslots < CLIENT_SLOTS_MAX / 2)
		c->paused = false;
	server_update_events(srv, c);
	server_maybe_close(srv, c);
}

/* ==== Replies ==== */

/*
 * Who asked: a TCP client, or the sender of one datagram. TCP and UDP
 * requests take the same path from here; where they differ (a TCP reply
 * keeps its turn, a datagram's goes at once and never outgrows its
 * request until it has authenticated) the peer says which.
 */
struct server_peer {
	/* TCP: the client; NULL for a datagram. */
	struct client *c;
	/* UDP: the listener, the sender, the datagram's length, and whether
	 * it carried the token (or none was needed). */
	struct listener *l;
	struct udp_wait *w;
	size_t dgram_len;
	bool authed;
	/* How long the request sat in the socket before the bridge read it. */
	int64_t waited_ms;
};

static void server_reply(struct server *srv, struct client *c,
			 const struct proto_request *req,
			 const struct proto_reply *rep)
{
	char line[PROTO_REPLY_MAX];
	size_t n = proto_format(req, rep, line, sizeof(line));

	server_after_send(srv, c, client_reply(c, line, n));
}

static void server_udp_send(struct listener *l, const struct udp_wait *w,
			    const char *line, size_t len)
{
	if (sendto(l->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT,
		   (const struct sockaddr *)&w->peer, w->peer_len) < 0)
		log_debug("UDP reply lost: %s", strerror(errno));
}

/* A reply datagram: at most 512 bytes, and at most @p cap. */
static void server_udp_reply(struct listener *l, const struct udp_wait *w,
			     const struct proto_request *req,
			     const struct proto_reply *rep, size_t cap)
{
	char line[SERVER_UDP_MAX + 1];
	size_t n;

	if (cap > SERVER_UDP_MAX)
		cap = SERVER_UDP_MAX;
	/* Shorter than the error's code: nothing worth sending. */
	if (cap < SERVER_UDP_MIN_REPLY)
		return;
	n = proto_format(req, rep, line, cap);
	server_udp_send(l, w, line, n);
}

static void server_answer(struct server *srv, const struct server_peer *p,
			  const struct proto_request *req,
			  const struct proto_reply *rep)
{
	if (p->c)
		server_reply(srv, p->c, req, rep);
	else
		server_udp_reply(p->l, p->w, req, rep,
				 p->authed ? SERVER_UDP_MAX : p->dgram_len);
}

static void server_ok(struct server *srv, const struct server_peer *p,
		      const struct proto_request *req, const char *text)
{
	struct proto_reply rep = {.text = text};

	server_answer(srv, p, req, &rep);
}

static void server_err(struct server *srv, const struct server_peer *p,
		       const struct proto_request *req, enum proto_err code,
		       const char *text)
{
	struct proto_reply rep = {.code = code, .text = text};

	server_answer(srv, p, req, &rep);
}

/* The words of an OK for a request the car confirms. */
static void server_detail(const struct proto_request *req, char *buf,
			  size_t size)
{
	switch (req->cmd) {
	case PROTO_DRIVE:
		proto_drive_words(&req->drive, buf, size);
		break;
	case PROTO_SPEED:
		snprintf(buf, size, "speed %d", req->speed);
		break;
	default:
		snprintf(buf, size, "estop %s",
			 req->cmd == PROTO_ESTOP ? "on" : "off");
		break;
	}
}

/* Close a TCP client once what it is owed is written. */
static void server_close_after(struct server *srv, struct client *c)
{
	if (c->fd < 0)
		return;
	c->closing = true;
	server_update_events(srv, c);
	server_maybe_close(srv, c);
}

/* Say why, then close (a line too long, too slow, an idle client). */
static void server_close_with(struct server *srv, struct client *c,
			      enum proto_err code, const char *text)
{
	struct server_peer p = {.c = c};

	log_debug("%s: %s: closing", c->peer, text);
	server_err(srv, &p, NULL, code, text);
	server_close_after(srv, c);
}

/* ==== Auth ==== */

/* Compare without an early exit, so the time says nothing of the token. */
static bool server_token_ok(const struct server *srv, const char *token)
{
	size_t n = strlen(srv->token);
	size_t m = strlen(token);
	unsigned char diff = (unsigned char)(n != m);

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(srv->token[i] ^ token[i < m ? i : 0]);
	return srv->has_token && diff == 0;
}

/*
 * Check a token from @p addr: refused unseen while the address is
 * throttled (@p wait_ms says how long), counted when wrong.
 */
static bool server_token_check(struct server *srv,
			       const struct sockaddr_storage *addr,
			       const char *token, int64_t *wait_ms)
{
	int64_t now = iotcar_clock_ms();

	*wait_ms = throttle_wait_ms(&srv->throttle, addr, now);
	if (*wait_ms)
		return false;
	if (server_token_ok(srv, token))
		return true;
	throttle_failed(&srv->throttle, addr, now);
	return false;
}

static void server_auth(struct server *srv, const struct server_peer *p,
			const struct proto_request *req)
{
	struct client *c = p->c;
	int64_t wait_ms;
	char text[96];

	if (!c) {
		server_err(srv, p, req, PROTO_ERR_BAD_ARGUMENT,
			   "on UDP, start each datagram with auth <token>");
		return;
	}
	if (server_token_check(srv, &c->addr, req->token, &wait_ms)) {
		c->authed = true;
		server_ok(srv, p, req, "authenticated");
		return;
	}
	if (wait_ms) {
		snprintf(text, sizeof(text),
			 "too many wrong tokens from this address; try again "
			 "in %lld s",
			 (long long)(wait_ms + 999) / 1000);
		server_err(srv, p, req, PROTO_ERR_AUTH_REQUIRED, text);
		server_close_after(srv, c);
		return;
	}
	server_err(srv, p, req, PROTO_ERR_AUTH_REQUIRED, "wrong token");
	if (++c->auth_failures >= SERVER_AUTH_TRIES)
		server_close_after(srv, c);
}

/* ==== Requests ==== */

/* What `status` answers for @p car: its last state, or why there is none. */
static void server_status_rep(struct server *srv, const char *car,
			      struct proto_reply *rep, char *text, size_t size)
{
	const char *state = router_state(srv->router, car);

	*rep = (struct proto_reply){.raw_key = "state", .raw_json = state};
	if (!router_is_connected(srv->router)) {
		*rep = (struct proto_reply){
			.code = PROTO_ERR_OFFLINE,
			.text = "the bridge has lost the MQTT broker"};
	} else if (!state) {
		snprintf(text, size, "no state from %s", car);
		*rep = (struct proto_reply){.code = PROTO_ERR_OFFLINE,
					    .text = text};
	}
}

/*
 * status, watch, unwatch: answered from what the bridge knows when their
 * turn comes. req->car is the car the client used when it asked.
 */
static void server_local_rep(struct server *srv, struct client *c,
			     const struct proto_request *req,
			     struct proto_reply *rep, char *text, size_t size)
{
	switch (req->cmd) {
	case PROTO_WATCH:
		server_watch(srv, c);
		snprintf(text, size, "watching %s", c->car);
		*rep = (struct proto_reply){.text = text};
		return;
	case PROTO_UNWATCH:
		server_unwatch(srv, c);
		*rep = (struct proto_reply){.text = "not watching"};
		return;
	default:
		server_status_rep(srv, req->car, rep, text, size);
		return;
	}
}

/*
 * Behind a reply still to come (a drive waiting for the car) they wait
 * their turn, so that they see what the commands before them did: the
 * car publishes its state before the result of the command that changed
 * it, so "forward\nstatus\n" shows the car moving, and "watch" pushes
 * nothing before its own OK. A datagram's status is answered at once.
 */
static void server_local(struct server *srv, const struct server_peer *p,
			 const struct proto_request *req)
{
	struct proto_request r = *req;
	struct client *c = p->c;
	struct proto_reply rep;
	struct client_slot *slot;
	char text[80];

	if (!c) {
		server_status_rep(srv, srv->cfg->car, &rep, text, sizeof(text));
		server_answer(srv, p, req, &rep);
		return;
	}
	iotcar_strlcpy(r.car, c->car, sizeof(r.car));
	if (c->head) {
		slot = client_slot_new(c, &r, NULL);
		if (!slot)
			server_kill(srv, c);
		else
			slot->deferred = true;
		return;
	}
	server_local_rep(srv, c, &r, &rep, text, sizeof(text));
	server_reply(srv, c, &r, &rep);
}

/* The deferred requests whose turn has come. */
static int server_answer_deferred(struct server *srv, struct client *c)
{
	int ret = 0;

	while (!ret && c->fd >= 0 && c->head && !c->head->ready &&
	       c->head->deferred) {
		char line[PROTO_REPLY_MAX];
		char text[80];
		struct proto_reply rep;
		size_t n;

		server_local_rep(srv, c, &c->head->req, &rep, text,
				 sizeof(text));
		n = proto_format(&c->head->req, &rep, line, sizeof(line));
		ret = client_fill(c, c->head->tag, line, n);
	}
	return ret;
}

static void server_cars(struct server *srv, const struct server_peer *p,
			const struct proto_request *req)
{
	const char *ids[64];
	struct proto_reply rep = {.raw_key = "cars", .list = ids};

	rep.nlist = router_online_cars(srv->router, ids, 64);
	server_answer(srv, p, req, &rep);
}

/* Where the car's answer goes: a reply slot, or a datagram's sender. */
static int server_waiter(struct server *srv, const struct server_peer *p,
			 const struct proto_request *req,
			 struct router_waiter *w)
{
	struct client *c = p->c;
	struct client_slot *slot;
	struct udp_wait *u;
	char detail[64];

	server_detail(req, detail, sizeof(detail));
	if (!c) {
		u = &srv->udp_waits[++srv->udp_tag % SERVER_UDP_WAITS];
		if (u->used)
			return -EBUSY;
		*u = *p->w;
		u->used = true;
		u->tag = srv->udp_tag;
		u->req = *req;
		iotcar_strlcpy(u->detail, detail, sizeof(u->detail));
		*w = (struct router_waiter){.owner = p->l, .tag = u->tag};
		return 0;
	}
	slot = client_slot_new(c, req, detail);
	if (!slot)
		return -ENOMEM;
	*w = (struct router_waiter){
		.fd = c->fd, .gen = c->gen, .tag = slot->tag};
	if (c->nslots >= CLIENT_SLOTS_MAX && !c->paused) {
		/* Stop reading until the car catches up. */
		c->paused = true;
		server_update_events(srv, c);
	}
	return 0;
}

/*
 * A command for the car. One that waited in the socket longer than the
 * result timeout (the bridge was stalled) is answered as timed out and
 * never sent: its sender has given up on it by now.
 */
static void server_to_car(struct server *srv, const struct server_peer *p,
			  const struct proto_request *req)
{
	struct router_waiter w;
	char text[120];
	int ret;

	if (p->waited_ms > srv->cfg->result_timeout_ms) {
		snprintf(text, sizeof(text),
			 "it waited %lld ms before the bridge could read it; "
			 "not sent",
			 (long long)p->waited_ms);
		server_err(srv, p, req, PROTO_ERR_TIMEOUT, text);
		return;
	}
	ret = server_waiter(srv, p, req, &w);
	if (ret == -EBUSY) {
		server_err(srv, p, req, PROTO_ERR_BUSY,
			   "too many UDP requests waiting");
		return;
	}
	if (ret) {
		server_kill(srv, p->c);
		return;
	}
	router_request(srv->router, p->c ? p->c->car : srv->cfg->car, req, &w);
}

static void server_request(struct server *srv, const struct server_peer *p,
			   const struct proto_request *req)
{
	struct client *c = p->c;
	char text[96];

	switch (req->cmd) {
	case PROTO_DRIVE:
	case PROTO_SPEED:
	case PROTO_ESTOP:
	case PROTO_RELEASE:
		server_to_car(srv, p, req);
		return;
	case PROTO_STATUS:
		server_local(srv, p, req);
		return;
	case PROTO_CARS:
		server_cars(srv, p, req);
		return;
	case PROTO_PING:
		server_ok(srv, p, req, "pong");
		return;
	case PROTO_HELP:
		server_ok(srv, p, req, server_help);
		return;
	case PROTO_AUTH:
		server_auth(srv, p, req);
		return;
	default:
		break;
	}
	/* The rest belong to a connection. */
	if (!c) {
		server_err(srv, p, req, PROTO_ERR_BAD_ARGUMENT,
			   "that needs a TCP connection; UDP drives the "
			   "bridge's default car");
		return;
	}
	switch (req->cmd) {
	case PROTO_WATCH:
	case PROTO_UNWATCH:
		server_local(srv, p, req);
		break;
	case PROTO_USE:
		iotcar_strlcpy(c->car, req->car, sizeof(c->car));
		snprintf(text, sizeof(text), "using %s%s", c->car,
			 router_car_status(srv->router, c->car, NULL) == 1
				 ? ""
				 : " (not online now)");
		server_ok(srv, p, req, text);
		break;
	case PROTO_QUIT:
		server_ok(srv, p, req, "bye");
		server_close_after(srv, c);
		break;
	default:
		break;
	}
}

/* One message: parsed, rate-limited, authenticated, then carried out. */
static void server_message(struct server *srv, const struct server_peer *p,
			   const char *msg, size_t len)
{
	struct bucket *rate = p->c ? &p->c->rate : &p->l->rate;
	bool authed = p->c ? !p->c->needs_auth || p->c->authed : p->authed;
	struct proto_request req;
	struct proto_error err;
	bool parsed = proto_parse(msg, len, &req, &err) == 0;

	if (!bucket_take(rate, iotcar_clock_ms(), srv->cfg->rate_per_s,
			 srv->cfg->rate_burst))
		server_err(srv, p, &req, PROTO_ERR_RATE_LIMITED,
			   "slow down: too many messages a second");
	else if (!parsed)
		server_err(srv, p, &req, err.code, err.message);
	else if (!authed && req.cmd != PROTO_AUTH && req.cmd != PROTO_QUIT &&
		 req.cmd != PROTO_HELP)
		server_err(srv, p, &req, PROTO_ERR_AUTH_REQUIRED,
			   "send: auth <token>");
	else
		server_request(srv, p, &req);
}

/* A raw channel's message: verbatim to its topic, once authenticated. */
static void server_raw_message(struct server *srv, const struct server_peer *p,
			       const char *msg, size_t len)
{
	struct client *c = p->c;
	struct proto_request req;
	struct proto_error err;

	if (c->needs_auth && !c->authed) {
		if (proto_parse(msg, len, &req, &err) == 0 &&
		    req.cmd == PROTO_AUTH)
			server_auth(srv, p, &req);
		else
			server_err(srv, p, NULL, PROTO_ERR_AUTH_REQUIRED,
				   "send: auth <token>");
		return;
	}
	if (len && c->raw->cfg->publish)
		router_publish_raw(srv->router, c->raw->cfg->publish, msg, len);
}

/* What the frame callback needs: the frame knows only one pointer. */
struct server_read {
	struct server *srv;
	struct client *c;
	/* How long the bytes of this read sat in the socket. */
	int64_t waited_ms;
};

/* One message from a client (the frame callback). Non-zero: stop. */
static int server_on_message(void *ctx, const char *msg, size_t len)
{
	struct server_read *rd = ctx;
	struct client *c = rd->c;
	struct server_peer p = {.c = c, .waited_ms = rd->waited_ms};

	if (c->fd < 0 || c->closing)
		return 1;
	/* Empty lines (a telnet user pressing Enter) are not messages. */
	if (len == 0)
		return 0;
	if (c->raw)
		server_raw_message(rd->srv, &p, msg, len);
	else
		server_message(rd->srv, &p, msg, len);
	return c->fd < 0 || c->closing;
}

/*
 * recv() that also says how long the bytes waited in the socket: the
 * kernel's receive time (SO_TIMESTAMPNS, CLOCK_REALTIME) against now. A
 * stalled bridge (SIGSTOP, a hung disk) learns that way what is old.
 */
static ssize_t server_recv(int fd, void *buf, size_t size, int flags,
			   struct sockaddr_storage *from, socklen_t *fromlen,
			   int64_t *waited_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control.buf,
			    .msg_controllen = sizeof(control.buf),
			    .msg_name = from,
			    .msg_namelen = fromlen ? *fromlen : 0};
	ssize_t n = recvmsg(fd, &mh, flags);
	struct timespec now;

	*waited_ms = 0;
	if (n < 0)
		return n;
	if (fromlen)
		*fromlen = mh.msg_namelen;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
	     cm = CMSG_NXTHDR(&mh, cm)) {
		struct timespec ts;

		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		clock_gettime(CLOCK_REALTIME, &now);
		*waited_ms = (now.tv_sec - ts.tv_sec) * 1000 +
			     (now.tv_nsec - ts.tv_nsec) / 1000000;
		/* The clock was set back meanwhile: call it fresh. */
		if (*waited_ms < 0)
			*waited_ms = 0;
	}
	return n;
}

/* The peer said all it will: answer what it sent, then close. */
static void server_on_eof(struct server *srv, struct client *c,
			  struct server_read *rd)
{
	frame_flush(&c->frame, server_on_message, rd);
	if (c->fd < 0)
		return;
	c->closing = true;
	server_update_events(srv, c);
	server_maybe_close(srv, c);
}

static void server_too_long(struct server *srv, struct client *c)
{
	char text[64];

	snprintf(text, sizeof(text), "a message is at most %d bytes",
		 srv->cfg->max_message);
	server_close_with(srv, c, PROTO_ERR_TOO_LONG, text);
}

/* The socket is drained: a burst client's tail may be a message. */
static void server_drained(struct server *srv, struct client *c,
			   struct server_read *rd, int64_t now)
{
	bool was_waiting = c->partial_ms && !c->frame.line_mode;
	int ret = frame_drained(&c->frame, c->raw ? NULL : proto_is_incomplete,
				server_on_message, rd);

	if (c->fd < 0)
		return;
	if (ret == -EMSGSIZE) {
		server_too_long(srv, c);
		return;
	}
	if (!frame_has_partial(&c->frame)) {
		c->partial_ms = 0;
	} else if (!c->partial_ms) {
		c->partial_ms = now;
	}
	/* Count the burst clients waiting, and wake up for the first. */
	if (was_waiting && !(c->partial_ms && !c->frame.line_mode)) {
		srv->nburst--;
	} else if (!was_waiting && c->partial_ms && !c->frame.line_mode) {
		srv->nburst++;
		if (!iotcar_timer_is_armed(srv->burst))
			iotcar_timer_start(srv->burst, SERVER_BURST_WAIT_MS, 0);
	}
}

static void server_read(struct server *srv, struct client *c)
{
	struct server_read rd = {.srv = srv, .c = c};
	char buf[SERVER_READ_CHUNK];
	size_t budget = SERVER_READ_BUDGET;
	int64_t now = iotcar_clock_ms();
	ssize_t n;
	int ret;

	while (budget && c->fd >= 0 && !c->closing && !c->paused) {
		n = server_recv(c->fd, buf, sizeof(buf), 0, NULL, NULL,
				&rd.waited_ms);
		if (n == 0) {
			server_on_eof(srv, c, &rd);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				server_drained(srv, c, &rd, now);
			else
				server_kill(srv, c);
			return;
		}
		c->last_rx_ms = now;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		ret = frame_feed(&c->frame, buf, (size_t)n, server_on_message,
				 &rd);
		if (ret == -EMSGSIZE || ret == -ENOMEM) {
			if (c->fd >= 0)
				server_too_long(srv, c);
			return;
		}
	}
}

static void server_on_client(void *ctx, int fd, uint32_t events)
{
	struct server *srv = ctx;
	struct client *c = srv->clients[fd];

	if (!c)
		return;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		server_after_send(srv, c, client_flush(c));
		if (c->fd < 0)
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		server_read(srv, c);
}

/* ==== Accepting ==== */

static int server_reserve(struct server *srv, int fd)
{
	size_t want = (size_t)fd + 1;
	size_t cap = srv->clients_cap ? srv->clients_cap : 256;
	struct client **p;

	if (want <= srv->clients_cap)
		return 0;
	while (cap < want)
		cap *= 2;
	p = realloc(srv->clients, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + srv->clients_cap, 0, (cap - srv->clients_cap) * sizeof(*p));
	srv->clients = p;
	srv->clients_cap = cap;
	return 0;
}

static void server_peer_name(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[64] = "?";
	int port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(buf, size, "%s:%d", host, port);
}

static void server_refuse(int fd, const char *line)
{
	if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* It is being refused anyway. */
	}
	close(fd);
}

static void server_add_client(struct server *srv, struct listener *l, int fd,
			      const struct sockaddr_storage *addr)
{
	int one = 1;
	struct client *c;

	if (srv->nclients >= (size_t)srv->cfg->max_clients) {
		log_debug("refusing a connection: %zu clients", srv->nclients);
		server_refuse(fd, "ERR busy too many connections\n");
		return;
	}
	if (server_reserve(srv, fd)) {
		server_refuse(fd, "ERR busy out of memory\n");
		return;
	}
	c = client_new(fd, ++srv->next_gen, (size_t)srv->cfg->max_message,
		       (size_t)srv->cfg->out_max_kb * 1024, srv->cfg->car);
	if (!c ||
	    iotcar_loop_add_fd(srv->loop, fd, EPOLLIN, server_on_client, srv)) {
		client_free(c);
		server_refuse(fd, "ERR busy out of memory\n");
		return;
	}
	/* Replies are small single writes: never hold them for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Receive times, to tell what waited while the bridge was stalled. */
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	c->addr = *addr;
	c->raw = l->raw;
	c->needs_auth = l->needs_auth;
	c->last_rx_ms = iotcar_clock_ms();
	server_peer_name(fd, c->peer, sizeof(c->peer));
	srv->clients[fd] = c;
	srv->nclients++;
	log_debug("%s: connected to %s", c->peer, l->name);
}

static void server_on_accept(void *ctx, int lfd, uint32_t events)
{
	struct listener *l = ctx;
	struct server *srv = l->srv;

	(void)events;
	for (int i = 0; i < SERVER_ACCEPT_BUDGET; i++) {
		struct sockaddr_storage addr = {0};
		socklen_t len = sizeof(addr);
		int fd = accept4(lfd, (struct sockaddr *)&addr, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			server_add_client(srv, l, fd, &addr);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if ((errno == EMFILE || errno == ENFILE) &&
		    srv->spare_fd >= 0) {
			/* Out of fds: free one to say "busy", then take it
			 * back, or the listener would wake us forever. */
			close(srv->spare_fd);
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				server_refuse(fd, "ERR busy too many open "
						  "files\n");
			srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			continue;
		}
		return;
	}
}

/* ==== UDP ==== */

/*
 * Strip "auth <token> " off a datagram on a listener that needs it. A
 * datagram without the token, or from an address throttled for wrong
 * ones, is not authenticated; a throttled one gets no answer at all.
 * @return False when nothing is to be answered.
 */
static bool server_udp_auth(struct server *srv, struct server_peer *p,
			    const char **msg, size_t *len)
{
	char token[PROTO_TOKEN_MAX + 1];
	const char *q = *msg;
	const char *end = *msg + *len;
	const char *t;
	int64_t wait_ms;
	size_t n;

	p->authed = !p->l->needs_auth;
	if (p->authed)
		return true;
	if (*len < 5 || strncasecmp(q, "auth ", 5))
		return !throttle_wait_ms(&srv->throttle, &p->w->peer,
					 iotcar_clock_ms());
	t = q + 5;
	for (q = t; q < end && *q != ' '; q++)
		;
	n = (size_t)(q - t);
	if (n == 0 || n > PROTO_TOKEN_MAX)
		return true;
	memcpy(token, t, n);
	token[n] = '\0';
	if (!server_token_check(srv, &p->w->peer, token, &wait_ms))
		return !wait_ms;
	while (q < end && *q == ' ')
		q++;
	*len = (size_t)(end - q);
	*msg = q;
	p->authed = true;
	return true;
}

static void server_on_udp(void *ctx, int fd, uint32_t events)
{
	struct listener *l = ctx;
	struct server *srv = l->srv;
	char buf[65536];

	(void)events;
	for (int i = 0; i < SERVER_ACCEPT_BUDGET; i++) {
		struct udp_wait w = {.peer_len = sizeof(w.peer)};
		struct server_peer p = {.l = l, .w = &w};
		const char *msg = buf;
		ssize_t n = server_recv(fd, buf, sizeof(buf), MSG_TRUNC,
					&w.peer, &w.peer_len, &p.waited_ms);
		size_t len;

		if (n < 0)
			return;
		len = (size_t)n;
		p.dgram_len = len;
		if (!server_udp_auth(srv, &p, &msg, &len))
			continue;
		if (!p.authed) {
			server_err(srv, &p, NULL, PROTO_ERR_AUTH_REQUIRED,
				   "send: auth <token> <command>");
			continue;
		}
		if (p.dgram_len > (size_t)srv->cfg->max_message) {
			server_err(srv, &p, NULL, PROTO_ERR_TOO_LONG,
				   "a datagram is at most max_message bytes");
			continue;
		}
		while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
			len--;
		server_message(srv, &p, msg, len);
	}
}

/* ==== What the router tells us ==== */

static void server_on_answer(void *ctx, const struct router_waiter *w,
			     const struct router_answer *a)
{
	struct server *srv = ctx;
	char line[PROTO_REPLY_MAX];
	struct proto_reply rep = {.code = a->code, .text = a->text};
	struct client_slot *s;
	struct client *c;
	size_t n;
	int ret;

	if (w->owner) {
		struct listener *l = w->owner;
		struct udp_wait *u = &srv->udp_waits[w->tag % SERVER_UDP_WAITS];

		if (!u->used || u->tag != w->tag)
			return;
		if (a->code == PROTO_ERR_NONE)
			rep.text = u->detail;
		server_udp_reply(l, u, &u->req, &rep, SERVER_UDP_MAX);
		u->used = false;
		return;
	}
	c = w->fd >= 0 && (size_t)w->fd < srv->clients_cap ? srv->clients[w->fd]
							   : NULL;
	if (!c || c->gen != w->gen)
		return;
	for (s = c->head; s && s->tag != w->tag; s = s->next)
		;
	if (!s)
		return;
	if (a->code == PROTO_ERR_NONE)
		rep.text = s->detail;
	n = proto_format(&s->req, &rep, line, sizeof(line));
	ret = client_fill(c, w->tag, line, n);
	if (!ret)
		ret = server_answer_deferred(srv, c);
	server_after_send(srv, c, ret);
}

static void server_on_push(void *ctx, const char *car, const char *kind,
			   const char *json)
{
	struct server *srv = ctx;
	char line[PROTO_REPLY_MAX];
	int n = snprintf(line, sizeof(line), "%s %s\n", kind, json);
	struct client *c = srv->watchers;

	/* A push too long for one line would be useless cut. */
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	while (c) {
		struct client *next = c->watch_next;

		if (!strcmp(c->car, car))
			server_after_send(srv, c,
					  client_send(c, line, (size_t)n));
		c = next;
	}
}

static void server_on_raw(void *ctx, const char *topic, const char *payload,
			  size_t len)
{
	struct server *srv = ctx;
	char line[PROTO_REPLY_MAX + 1];

	if (len >= PROTO_REPLY_MAX)
		return;
	memcpy(line, payload, len);
	line[len] = '\n';
	for (size_t fd = 0; fd < srv->clients_cap; fd++) {
		struct client *c = srv->clients[fd];

		if (c && c->raw && c->raw->cfg->subscribe &&
		    !strcmp(c->raw->cfg->subscribe, topic) &&
		    (!c->needs_auth || c->authed))
			server_after_send(srv, c,
					  client_send(c, line, len + 1));
	}
}

/* ==== Timers ==== */

/* Why a partial line timed out; a lone key says what it needs. */
static void server_partial_text(const struct server *srv,
				const struct client *c, char *text, size_t size)
{
	const struct frame *f = &c->frame;

	if (f->len == 1 && strchr("wasdxWASDX", f->buf[0]) && f->buf[0])
		snprintf(text, size,
			 "'%c' alone is taken as a key typed: end the line "
			 "with a newline to send it",
			 f->buf[0]);
	else
		snprintf(text, size, "line not finished within %d ms",
			 srv->cfg->partial_timeout_ms);
}

/* Once a second: lines that never end, clients that never speak. */
static void server_on_sweep(void *ctx)
{
	struct server *srv = ctx;
	int64_t now = iotcar_clock_ms();
	int64_t idle_ms = (int64_t)srv->cfg->idle_timeout_s * 1000;
	char text[96];

	for (size_t fd = 0; fd < srv->clients_cap; fd++) {
		struct client *c = srv->clients[fd];

		if (!c || c->closing)
			continue;
		if (c->partial_ms && c->frame.line_mode &&
		    now - c->partial_ms > srv->cfg->partial_timeout_ms) {
			server_partial_text(srv, c, text, sizeof(text));
			server_close_with(srv, c, PROTO_ERR_TIMEOUT, text);
		} else if (!c->watching && now - c->last_rx_ms > idle_ms) {
			snprintf(text, sizeof(text), "idle for %d s",
				 srv->cfg->idle_timeout_s);
			server_close_with(srv, c, PROTO_ERR_TIMEOUT, text);
		}
	}
}

/*
 * Burst clients whose tail looked like a cut word and stayed one: nobody
 * sends half a word and waits, a person typing it does. The line waits
 * for its newline now, under the partial-line timeout.
 */
static void server_on_burst(void *ctx)
{
	struct server *srv = ctx;
	int64_t now = iotcar_clock_ms();

	for (size_t fd = 0; fd < srv->clients_cap && srv->nburst; fd++) {
		struct client *c = srv->clients[fd];

		if (!c || !c->partial_ms || c->frame.line_mode ||
		    now - c->partial_ms < SERVER_BURST_WAIT_MS)
			continue;
		srv->nburst--;
		frame_typing(&c->frame);
	}
	if (srv->nburst)
		iotcar_timer_start(srv->burst, SERVER_BURST_WAIT_MS, 0);
}

/* ==== Listeners ==== */

static int server_listen(struct server *srv, enum listener_kind kind,
			 const char *addr_text, const char *what,
			 struct raw_channel *raw, char *err, size_t errlen)
{
	struct listener *l = &srv->listeners[srv->nlisteners];
	struct settings_addr a;
	int one = 1;
	int fd;

	if (settings_parse_addr(addr_text, what, &a, err, errlen))
		return -EINVAL;
	fd = socket(a.ss.ss_family,
		    (kind == LISTENER_UDP ? SOCK_DGRAM : SOCK_STREAM) |
			    SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (kind == LISTENER_UDP)
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
	    (kind != LISTENER_UDP && listen(fd, SOMAXCONN) < 0))
		goto fail;
	*l = (struct listener){.srv = srv, .kind = kind, .fd = fd, .raw = raw};
	l->needs_auth = !a.loopback && !srv->cfg->insecure;
	snprintf(l->name, sizeof(l->name), "%s %s%s",
		 kind == LISTENER_UDP ? "UDP" : "TCP", addr_text,
		 l->needs_auth ? " (auth)" : "");
	if (iotcar_loop_add_fd(
		    srv->loop, fd, EPOLLIN,
		    kind == LISTENER_UDP ? server_on_udp : server_on_accept, l))
		goto fail;
	srv->nlisteners++;
	return 0;
fail:
	snprintf(err, errlen, "%s %s: %s", what, addr_text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -EADDRINUSE;
}

/* Enough open files for max_clients, or say how many fit. */
static void server_raise_nofile(const struct server *srv)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)srv->cfg->max_clients + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want && geteuid() == 0)
		rl.rlim_max = want;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		log_warning("open-file limit %llu: fewer than the %d clients "
			    "of --max-clients will fit",
			    (unsigned long long)rl.rlim_cur,
			    srv->cfg->max_clients);
}

/* ==== Life cycle ==== */

struct server *server_new(struct iotcar_loop *loop,
			  const struct bridge_settings *s, const char *token,
			  const struct iotcar_mqtt_opts *mqtt_opts, char *err,
			  size_t errlen)
{
	static const struct router_handlers rh = {
		.answer = server_on_answer,
		.push = server_on_push,
		.raw = server_on_raw,
	};
	const char *raw_topics[SETTINGS_RAW_MAX];
	struct router_config rc = {
		.prefix = s->common.prefix,
		.id = s->id,
		.result_timeout_ms = s->result_timeout_ms,
		.raw_topics = raw_topics,
	};
	struct server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		goto nomem;
	srv->loop = loop;
	srv->cfg = s;
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (token) {
		iotcar_strlcpy(srv->token, token, sizeof(srv->token));
		srv->has_token = true;
	}
	for (size_t i = 0; i < s->nraw; i++) {
		srv->raws[i].cfg = &s->raw[i];
		if (s->raw[i].subscribe)
			raw_topics[rc.nraw_topics++] = s->raw[i].subscribe;
	}
	srv->udp_waits = calloc(SERVER_UDP_WAITS, sizeof(*srv->udp_waits));
	srv->reaper = iotcar_timer_new(loop, server_on_reap, srv);
	srv->sweep = iotcar_timer_new(loop, server_on_sweep, srv);
	srv->burst = iotcar_timer_new(loop, server_on_burst, srv);
	if (!srv->udp_waits || !srv->reaper || !srv->sweep || !srv->burst)
		goto nomem;
	srv->router = router_new(loop, &rc, mqtt_opts, &rh, srv);
	if (!srv->router)
		goto nomem;
	return srv;
nomem:
	snprintf(err, errlen, "cannot create the server: %s", strerror(errno));
	server_free(srv);
	return NULL;
}

int server_start(struct server *srv, char *err, size_t errlen)
{
	const struct bridge_settings *s = srv->cfg;
	const char *udp = !strcmp(s->udp, "same") ? s->listen : s->udp;
	char what[64];

	server_raise_nofile(srv);
	if (server_listen(srv, LISTENER_TCP, s->listen, "--listen", NULL, err,
			  errlen))
		return -EADDRINUSE;
	if (strcmp(s->udp, "off") &&
	    server_listen(srv, LISTENER_UDP, udp, "--udp", NULL, err, errlen))
		return -EADDRINUSE;
	for (size_t i = 0; i < s->nraw; i++) {
		snprintf(what, sizeof(what), "[raw.%s]", s->raw[i].name);
		if (server_listen(srv, LISTENER_RAW, s->raw[i].listen, what,
				  &srv->raws[i], err, errlen))
			return -EADDRINUSE;
	}
	for (size_t i = 0; i < srv->nlisteners; i++)
		log_info("listening on %s", srv->listeners[i].name);
	iotcar_timer_start(srv->sweep, 1000, 1000);
	return router_start(srv->router);
}

void server_stop(struct server *srv)
{
	if (srv->stopped)
		return;
	srv->stopped = true;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		iotcar_loop_del_fd(srv->loop, srv->listeners[i].fd);
		close(srv->listeners[i].fd);
	}
	/* Answered "offline" while the clients can still hear it. */
	router_stop(srv->router);
	for (size_t fd = 0; fd < srv->clients_cap; fd++) {
		if (srv->clients[fd]) {
			client_flush(srv->clients[fd]);
			server_kill(srv, srv->clients[fd]);
		}
	}
	iotcar_timer_stop(srv->sweep);
	iotcar_timer_stop(srv->burst);
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
	if (srv->router)
		server_stop(srv);
	router_free(srv->router);
	server_on_reap(srv);
	iotcar_timer_free(srv->reaper);
	iotcar_timer_free(srv->sweep);
	iotcar_timer_free(srv->burst);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	free(srv->dead);
	free(srv->udp_waits);
	free(srv->clients);
	free(srv);
}

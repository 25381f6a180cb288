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
#include <unistd.h>

#include "client.h"
#include "iotcar/log.h"
#include "iotcar/text.h"
#include "proto.h"
#include "router.h"

#define SERVER_READ_CHUNK 4096
/* Bytes read from one client per wake-up, so no one starves the rest. */
#define SERVER_READ_BUDGET 65536
#define SERVER_ACCEPT_BUDGET 256
#define SERVER_UDP_MAX 512
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
		log_warning("%s: dropped: does not read its replies (%zu bytes "
			    "waiting)",
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

static void server_reply(struct server *srv, struct client *c,
			 const struct proto_request *req,
			 const struct proto_reply *rep)
{
	char line[PROTO_REPLY_MAX];
	size_t n = proto_format(req, rep, line, sizeof(line));

	server_after_send(srv, c, client_reply(c, line, n));
}

static void server_ok(struct server *srv, struct client *c,
		      const struct proto_request *req, const char *text)
{
	struct proto_reply rep = {.text = text};

	server_reply(srv, c, req, &rep);
}

static void server_err(struct server *srv, struct client *c,
		       const struct proto_request *req, enum proto_err code,
		       const char *text)
{
	struct proto_reply rep = {.code = code, .text = text};

	server_reply(srv, c, req, &rep);
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

/* ==== Requests ==== */

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

static void server_auth(struct server *srv, struct client *c,
			const struct proto_request *req)
{
	if (server_token_ok(srv, req->token)) {
		c->authed = true;
		server_ok(srv, c, req, "authenticated");
		return;
	}
	server_err(srv, c, req, PROTO_ERR_AUTH_REQUIRED, "wrong token");
	if (++c->auth_failures >= SERVER_AUTH_TRIES && c->fd >= 0) {
		c->closing = true;
		server_update_events(srv, c);
		server_maybe_close(srv, c);
	}
}

/* What `status` answers for @p car (TCP and UDP): its last state, or why
 * there is none. */
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
 * nothing before its own OK.
 */
static void server_local(struct server *srv, struct client *c,
			 const struct proto_request *req)
{
	struct proto_request r = *req;
	struct proto_reply rep;
	struct client_slot *slot;
	char text[80];

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

static void server_cars(struct server *srv, struct client *c,
			const struct proto_request *req)
{
	const char *ids[64];
	struct proto_reply rep = {.raw_key = "cars", .list = ids};

	rep.nlist = router_online_cars(srv->router, ids, 64);
	server_reply(srv, c, req, &rep);
}

static void server_to_car(struct server *srv, struct client *c,
			  const struct proto_request *req)
{
	char detail[64];
	struct client_slot *slot;
	struct router_waiter w;

	server_detail(req, detail, sizeof(detail));
	slot = client_slot_new(c, req, detail);
	if (!slot) {
		server_kill(srv, c);
		return;
	}
	w = (struct router_waiter){
		.fd = c->fd, .gen = c->gen, .tag = slot->tag};
	if (c->nslots >= CLIENT_SLOTS_MAX && !c->paused) {
		/* Stop reading until the car catches up. */
		c->paused = true;
		server_update_events(srv, c);
	}
	router_request(srv->router, c->car, req, &w);
}

static void server_dispatch(struct server *srv, struct client *c,
			    const struct proto_request *req)
{
	char text[96];

	switch (req->cmd) {
	case PROTO_DRIVE:
	case PROTO_SPEED:
	case PROTO_ESTOP:
	case PROTO_RELEASE:
		server_to_car(srv, c, req);
		break;
	case PROTO_STATUS:
	case PROTO_WATCH:
	case PROTO_UNWATCH:
		server_local(srv, c, req);
		break;
	case PROTO_CARS:
		server_cars(srv, c, req);
		break;
	case PROTO_USE:
		iotcar_strlcpy(c->car, req->car, sizeof(c->car));
		snprintf(text, sizeof(text), "using %s%s", c->car,
			 router_car_status(srv->router, c->car) == 1
				 ? ""
				 : " (not online now)");
		server_ok(srv, c, req, text);
		break;
	case PROTO_PING:
		server_ok(srv, c, req, "pong");
		break;
	case PROTO_HELP:
		server_ok(srv, c, req, server_help);
		break;
	case PROTO_QUIT:
		server_ok(srv, c, req, "bye");
		if (c->fd >= 0) {
			c->closing = true;
			server_update_events(srv, c);
			server_maybe_close(srv, c);
		}
		break;
	case PROTO_AUTH:
		server_auth(srv, c, req);
		break;
	default:
		break;
	}
}

/* A raw channel's message: verbatim to its topic, once authenticated. */
static void server_raw_message(struct server *srv, struct client *c,
			       const char *msg, size_t len)
{
	struct proto_request req;
	struct proto_error err;

	if (c->needs_auth && !c->authed) {
		if (proto_parse(msg, len, &req, &err) == 0 &&
		    req.cmd == PROTO_AUTH)
			server_auth(srv, c, &req);
		else
			server_err(srv, c, NULL, PROTO_ERR_AUTH_REQUIRED,
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
};

/* One message from a client (the frame callback). Non-zero: stop. */
static int server_on_message(void *ctx, const char *msg, size_t len)
{
	struct server_read *rd = ctx;
	struct server *srv = rd->srv;
	struct client *c = rd->c;
	struct proto_request req;
	struct proto_error err;
	bool parsed;

	if (c->fd < 0 || c->closing)
		return 1;
	/* Empty lines (a telnet user pressing Enter) are not messages. */
	if (len == 0)
		return 0;
	if (c->raw) {
		server_raw_message(srv, c, msg, len);
		return c->fd < 0;
	}
	parsed = proto_parse(msg, len, &req, &err) == 0;
	if (!bucket_take(&c->rate, iotcar_clock_ms(), srv->cfg->rate_per_s,
			 srv->cfg->rate_burst))
		server_err(srv, c, &req, PROTO_ERR_RATE_LIMITED,
			   "slow down: too many messages a second");
	else if (!parsed)
		server_err(srv, c, &req, err.code, err.message);
	else if (c->needs_auth && !c->authed && req.cmd != PROTO_AUTH &&
		 req.cmd != PROTO_QUIT && req.cmd != PROTO_HELP)
		server_err(srv, c, &req, PROTO_ERR_AUTH_REQUIRED,
			   "send: auth <token>");
	else
		server_dispatch(srv, c, &req);
	return c->fd < 0 || c->closing;
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
	log_debug("%s: message too long: closing", c->peer);
	server_err(srv, c, NULL, PROTO_ERR_TOO_LONG, text);
	if (c->fd >= 0) {
		c->closing = true;
		server_update_events(srv, c);
		server_maybe_close(srv, c);
	}
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
	struct server_read rd = {srv, c};
	char buf[SERVER_READ_CHUNK];
	size_t budget = SERVER_READ_BUDGET;
	int64_t now = iotcar_clock_ms();
	ssize_t n;
	int ret;

	while (budget && c->fd >= 0 && !c->closing && !c->paused) {
		n = recv(c->fd, buf, sizeof(buf), 0);
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

static void server_add_client(struct server *srv, struct listener *l, int fd)
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
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			server_add_client(srv, l, fd);
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

static void server_udp_send(struct listener *l, const struct udp_wait *w,
			    const char *line, size_t len)
{
	if (sendto(l->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT,
		   (const struct sockaddr *)&w->peer, w->peer_len) < 0)
		log_debug("UDP reply lost: %s", strerror(errno));
}

static void server_udp_reply(struct listener *l, const struct udp_wait *w,
			     const struct proto_request *req,
			     const struct proto_reply *rep)
{
	/* A reply datagram is never larger than 512 bytes. */
	char line[SERVER_UDP_MAX + 1];
	size_t n = proto_format(req, rep, line, sizeof(line));

	server_udp_send(l, w, line, n);
}

static void server_udp_err(struct listener *l, const struct udp_wait *w,
			   const struct proto_request *req, enum proto_err code,
			   const char *text)
{
	struct proto_reply rep = {.code = code, .text = text};

	server_udp_reply(l, w, req, &rep);
}

/* Strip "auth <token> " off a datagram on a listener that needs it. */
static bool server_udp_auth(struct server *srv, const char **msg, size_t *len)
{
	char token[PROTO_TOKEN_MAX + 1];
	const char *p = *msg;
	const char *end = *msg + *len;
	const char *t;
	size_t n;

	if (*len < 5 || strncasecmp(p, "auth ", 5))
		return false;
	t = p + 5;
	for (p = t; p < end && *p != ' '; p++)
		;
	n = (size_t)(p - t);
	if (n == 0 || n > PROTO_TOKEN_MAX)
		return false;
	memcpy(token, t, n);
	token[n] = '\0';
	if (!server_token_ok(srv, token))
		return false;
	while (p < end && *p == ' ')
		p++;
	*len = (size_t)(end - p);
	*msg = p;
	return true;
}

static void server_udp_request(struct server *srv, struct listener *l,
			       struct udp_wait *w, const char *msg, size_t len)
{
	struct proto_request req;
	struct proto_error err;
	struct router_waiter rw;
	struct udp_wait *slot;

	if (l->needs_auth && !server_udp_auth(srv, &msg, &len)) {
		server_udp_err(l, w, NULL, PROTO_ERR_AUTH_REQUIRED,
			       "send: auth <token> <command>");
		return;
	}
	if (proto_parse(msg, len, &req, &err)) {
		server_udp_err(l, w, &req, err.code, err.message);
		return;
	}
	if (!bucket_take(&l->rate, iotcar_clock_ms(), srv->cfg->rate_per_s,
			 srv->cfg->rate_burst)) {
		server_udp_err(l, w, &req, PROTO_ERR_RATE_LIMITED,
			       "slow down: too many messages a second");
		return;
	}
	switch (req.cmd) {
	case PROTO_DRIVE:
	case PROTO_SPEED:
	case PROTO_ESTOP:
	case PROTO_RELEASE:
		slot = &srv->udp_waits[++srv->udp_tag % SERVER_UDP_WAITS];
		if (slot->used) {
			server_udp_err(l, w, &req, PROTO_ERR_BUSY,
				       "too many UDP requests waiting");
			return;
		}
		*slot = *w;
		slot->used = true;
		slot->tag = srv->udp_tag;
		slot->req = req;
		server_detail(&req, slot->detail, sizeof(slot->detail));
		rw = (struct router_waiter){.owner = l, .tag = slot->tag};
		router_request(srv->router, srv->cfg->car, &req, &rw);
		return;
	case PROTO_STATUS: {
		struct proto_reply rep;
		char text[80];

		server_status_rep(srv, srv->cfg->car, &rep, text, sizeof(text));
		server_udp_reply(l, w, &req, &rep);
		return;
	}
	case PROTO_CARS: {
		const char *ids[32];
		struct proto_reply rep = {.raw_key = "cars", .list = ids};

		rep.nlist = router_online_cars(srv->router, ids, 32);
		server_udp_reply(l, w, &req, &rep);
		return;
	}
	case PROTO_PING:
	case PROTO_HELP: {
		struct proto_reply rep = {
			.text = req.cmd == PROTO_PING ? "pong" : server_help};

		server_udp_reply(l, w, &req, &rep);
		return;
	}
	default:
		server_udp_err(l, w, &req, PROTO_ERR_BAD_ARGUMENT,
			       "that needs a TCP connection; UDP drives the "
			       "bridge's default car");
		return;
	}
}

static void server_on_udp(void *ctx, int fd, uint32_t events)
{
	struct listener *l = ctx;
	struct server *srv = l->srv;
	char buf[65536];

	(void)events;
	for (int i = 0; i < SERVER_ACCEPT_BUDGET; i++) {
		struct udp_wait w = {.peer_len = sizeof(w.peer)};
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC,
				     (struct sockaddr *)&w.peer, &w.peer_len);
		size_t len;

		if (n < 0)
			return;
		len = (size_t)n;
		if (len > (size_t)srv->cfg->max_message) {
			server_udp_err(l, &w, NULL, PROTO_ERR_TOO_LONG,
				       "a datagram is at most max_message "
				       "bytes");
			continue;
		}
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		server_udp_request(srv, l, &w, buf, len);
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
		server_udp_reply(l, u, &u->req, &rep);
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
			log_debug("%s: %s: closing", c->peer, text);
			server_err(srv, c, NULL, PROTO_ERR_TIMEOUT, text);
		} else if (!c->watching && now - c->last_rx_ms > idle_ms) {
			snprintf(text, sizeof(text), "idle for %d s",
				 srv->cfg->idle_timeout_s);
			log_debug("%s: %s: closing", c->peer, text);
			server_err(srv, c, NULL, PROTO_ERR_TIMEOUT, text);
		} else {
			continue;
		}
		if (c->fd >= 0) {
			c->closing = true;
			server_update_events(srv, c);
			server_maybe_close(srv, c);
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

// SPDX-License-Identifier: MIT
/*
 * mqtt.c: the Paho MQTTAsync client of the wrapper (mqtt.h), and the only
 * file that includes <MQTTAsync.h>. Paho's callbacks run on Paho's threads:
 * they copy the event into the inbox (mqtt_inbox.c), which wakes the loop,
 * and return; the loop's thread does everything else.
 */
#include "iotcar/mqtt.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iotcar/log.h"
#include "mqtt_int.h"

#define MQTT_CONNECT_TIMEOUT_S 5
/* An attempt that neither succeeds nor fails by then has been lost: Paho
 * drops a CONNECT queued while its previous disconnect is still under
 * way, without a callback (1.3.11, MQTTAsync_processCommand). */
#define MQTT_ATTEMPT_DEADLINE_MS ((MQTT_CONNECT_TIMEOUT_S + 2) * 1000)
/* A connection that lasted this long was a good one: the back-off starts
 * over when it ends. One that ends sooner (another client pushing us off,
 * a broker refusing something) keeps backing off. */
#define MQTT_STABLE_MS 10000
/* Paho's own command queue; it applies while connected too. */
#define MQTT_PAHO_BUFFERED_MAX 4096

struct iotcar_mqtt {
	struct iotcar_loop *loop;
	struct iotcar_mqtt_handlers handlers;
	void *ctx;
	MQTTAsync client;
	struct mqtt_inbox inbox;
	struct mqtt_window window;
	struct iotcar_timer *retry;

	/* Copies of the options: Paho keeps pointers to some of them. */
	char *uri;
	/* The brokers of the list (a copy of uri split at its commas), tried
	 * in order on every connect; the one of the connection, for logs. */
	char *uri_list;
	char *uris[MQTT_URIS_MAX];
	int nuris;
	/* The one of them being tried, or in use. */
	int uri_at;
	char server[MQTT_REASON_MAX];
	char *client_id;
	char *username;
	char *password;
	char *cafile;
	char *cert;
	char *key;
	char *will_topic;
	char *will_payload;
	int keepalive_s;
	bool exit_after_free;
	/* MQTT 3.1.1: Paho's 3.1.1 callbacks, and no properties. */
	bool v311;
	int retry_min_ms;
	int retry_max_ms;
	/* Any of them ssl://. */
	bool tls;

	/* Loop thread only. */
	bool started;
	bool stopped;
	bool connected;
	bool attempting;
	int retry_ms;
	unsigned failures;
	char last_failure[MQTT_REASON_MAX];
	/* When the current connection came up. */
	int64_t connected_ms;
	/* Subscribes not acknowledged yet, and whether subscribed() ran. */
	int subs_pending;
	bool subscribed_told;

	/* Shared with Paho's threads, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool disconnect_done;
	char ssl_error[MQTT_REASON_MAX];
	/* Topics of the last subscribe, to name refusals. */
	char **sub_topics;
	size_t sub_count;
	/* One per SUBSCRIBE packet, the context of its answer. */
	struct mqtt_sub_chunk {
		struct iotcar_mqtt *m;
		size_t first;
		size_t count;
	} sub_chunks[MQTT_SUBS_MAX / MQTT_FILTERS_PER_SUBSCRIBE];
};

static void mqtt_push_status(struct iotcar_mqtt *m, enum mqtt_ev_type type,
			     const char *reason)
{
	struct mqtt_event *ev = mqtt_event_new(type, 0);

	if (!ev) {
		log_error("mqtt: out of memory; connection event lost");
		return;
	}
	snprintf(ev->reason, sizeof(ev->reason), "%s", reason ? reason : "");
	mqtt_inbox_push(&m->inbox, ev);
}

/* ==== Paho callbacks (Paho's threads: copy, queue, wake, return) ==== */

static const MQTTLenString *mqtt_prop(MQTTAsync_message *msg,
				      enum MQTTPropertyCodes code)
{
	MQTTProperty *p = MQTTProperties_getProperty(&msg->properties, code);

	return p ? &p->value.data : NULL;
}

static int paho_message(void *context, char *topic, int topic_len,
			MQTTAsync_message *msg)
{
	struct iotcar_mqtt *m = context;
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	bool oversize = plen > IOTCAR_MQTT_PAYLOAD_MAX;
	const MQTTLenString *rt =
		mqtt_prop(msg, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
	const MQTTLenString *cd =
		mqtt_prop(msg, MQTTPROPERTY_CODE_CORRELATION_DATA);
	size_t rtlen = rt ? (size_t)rt->len : 0;
	size_t cdlen = cd ? (size_t)cd->len : 0;
	size_t copy = oversize ? 0 : plen;
	struct mqtt_event *ev;
	char *p;

	ev = mqtt_event_new(MQTT_EV_MESSAGE, tlen + copy + rtlen + cdlen + 3);
	if (!ev) {
		m->inbox.dropped++;
		goto out;
	}
	p = ev->data;
	memcpy(p, topic, tlen);
	ev->msg.topic = p;
	p += tlen + 1;
	if (!oversize) {
		if (plen)
			memcpy(p, msg->payload, plen);
		ev->msg.payload = p;
		p += plen + 1;
	}
	if (rt) {
		memcpy(p, rt->data, rtlen);
		ev->msg.response_topic = p;
		p += rtlen + 1;
	}
	if (cd) {
		memcpy(p, cd->data, cdlen);
		ev->msg.correlation = p;
		ev->msg.correlation_len = cdlen;
	}
	ev->msg.len = plen;
	ev->msg.oversize = oversize;
	ev->msg.qos = msg->qos;
	ev->msg.retained = msg->retained != 0;
	ev->keep = m->handlers.keep && m->handlers.keep(m->ctx, &ev->msg);
	mqtt_inbox_push(&m->inbox, ev);
out:
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void paho_connection_lost(void *context, char *cause)
{
	mqtt_push_status(context, MQTT_EV_LOST,
			 cause && *cause ? cause : "connection lost");
}

static void paho_disconnected(void *context, MQTTProperties *props,
			      enum MQTTReasonCodes rc)
{
	struct iotcar_mqtt *m = context;
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_LOST, 0);

	(void)props;
	if (!ev) {
		log_error("mqtt: out of memory; connection event lost");
		return;
	}
	snprintf(ev->reason, sizeof(ev->reason),
		 "the broker disconnected us: %s (MQTT reason 0x%02X)",
		 MQTTReasonCode_toString(rc), (unsigned)rc);
	ev->reason_code = (int)rc;
	mqtt_inbox_push(&m->inbox, ev);
}

/* Connected; @p receive_max 0: the broker names none. */
static void mqtt_connected(struct iotcar_mqtt *m, int receive_max)
{
	struct mqtt_event *ev = mqtt_event_new(MQTT_EV_CONNECTED, 0);

	if (!ev) {
		log_error("mqtt: out of memory; connection event lost");
		return;
	}
	ev->receive_max = receive_max > 0 ? receive_max : 0;
	mqtt_inbox_push(&m->inbox, ev);
}

static void paho_connect_ok(void *context, MQTTAsync_successData5 *resp)
{
	mqtt_connected(context,
		       resp ? MQTTProperties_getNumericValue(
				      &resp->properties,
				      MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)
			    : 0);
}

static void paho_connect_ok311(void *context, MQTTAsync_successData *resp)
{
	(void)resp;
	mqtt_connected(context, 0);
}

/*
 * Why a connect failed: @p refusal is the broker's own word (an MQTT 5
 * reason, a 3.1.1 return code), else Paho's @p code and @p message.
 */
static void mqtt_connect_failed(struct iotcar_mqtt *m, const char *refusal,
				int code, const char *message)
{
	char reason[MQTT_REASON_MAX];
	char ssl[MQTT_REASON_MAX];

	pthread_mutex_lock(&m->lock);
	snprintf(ssl, sizeof(ssl), "%s", m->ssl_error);
	m->ssl_error[0] = '\0';
	pthread_mutex_unlock(&m->lock);
	if (refusal)
		snprintf(reason, sizeof(reason), "refused by the broker: %s",
			 refusal);
	else if (ssl[0])
		snprintf(reason, sizeof(reason), "TLS: %.180s", ssl);
	else if (!m->v311 && message && strstr(message, "completion"))
		/* The socket closed while Paho waited for the CONNACK. */
		snprintf(reason, sizeof(reason),
			 "the broker closed the connection on our MQTT 5 "
			 "CONNECT: a broker without MQTT 5 does that (RabbitMQ "
			 "before 3.13, Mosquitto before 1.6); try mqtt_version "
			 "= 3.1.1 (--mqtt-version 3.1.1)");
	else if (message)
		snprintf(reason, sizeof(reason), "%s", message);
	else
		snprintf(reason, sizeof(reason), "%s",
			 MQTTAsync_strerror(code));
	mqtt_push_status(m, MQTT_EV_CONNECT_FAILED, reason);
}

static void paho_connect_failed(void *context, MQTTAsync_failureData5 *resp)
{
	bool refused =
		resp && resp->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR;

	mqtt_connect_failed(context,
			    refused ? MQTTReasonCode_toString(resp->reasonCode)
				    : NULL,
			    resp ? resp->code : MQTTASYNC_FAILURE,
			    resp ? resp->message : NULL);
}

/* MQTT 3.1.1's CONNACK return codes 1..5. */
static const char *mqtt_connack311(int code)
{
	static const char *const names[] = {
		NULL,
		"unacceptable protocol version",
		"identifier rejected",
		"server unavailable",
		"bad user name or password",
		"not authorized",
	};

	return code > 0 && code < 6 ? names[code] : NULL;
}

static void paho_connect_failed311(void *context, MQTTAsync_failureData *resp)
{
	mqtt_connect_failed(context, resp ? mqtt_connack311(resp->code) : NULL,
			    resp ? resp->code : MQTTASYNC_FAILURE,
			    resp ? resp->message : NULL);
}

static int paho_ssl_error(const char *str, size_t len, void *u)
{
	struct iotcar_mqtt *m = u;
	size_t n = len;

	while (n && (str[n - 1] == '\n' || str[n - 1] == '\r'))
		n--;
	pthread_mutex_lock(&m->lock);
	snprintf(m->ssl_error, sizeof(m->ssl_error), "%.*s", (int)n, str);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void paho_subscribe_ok(void *context, MQTTAsync_successData5 *resp)
{
	const struct mqtt_sub_chunk *chunk = context;
	struct iotcar_mqtt *m = chunk->m;
	int n = resp->alt.sub.reasonCodeCount;

	/* A refused filter was still answered: the SUBACK is what counts. */
	mqtt_push_status(m, MQTT_EV_SUBSCRIBED, NULL);
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < n; i++) {
		/* Paho fills the array only for two topics or more. */
		enum MQTTReasonCodes rc =
			n > 1 ? resp->alt.sub.reasonCodes[i] : resp->reasonCode;
		size_t k = chunk->first + (size_t)i;

		if (rc >= MQTTREASONCODE_UNSPECIFIED_ERROR)
			log_error("mqtt: the broker refused the subscription "
				  "to %s: %s",
				  k < m->sub_count ? m->sub_topics[k] : "?",
				  MQTTReasonCode_toString(rc));
	}
	pthread_mutex_unlock(&m->lock);
}

static void paho_subscribe_failed(void *context, MQTTAsync_failureData5 *resp)
{
	const struct mqtt_sub_chunk *chunk = context;

	mqtt_push_status(chunk->m, MQTT_EV_SUBSCRIBED, NULL);
	log_error("mqtt: subscribe failed: %s",
		  resp->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR
			  ? MQTTReasonCode_toString(resp->reasonCode)
			  : MQTTAsync_strerror(resp->code));
}

/* MQTT 3.1.1: the granted QoS of each filter, 0x80 for a refusal. */
static void paho_subscribe_ok311(void *context, MQTTAsync_successData *resp)
{
	const struct mqtt_sub_chunk *chunk = context;
	struct iotcar_mqtt *m = chunk->m;

	mqtt_push_status(m, MQTT_EV_SUBSCRIBED, NULL);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < chunk->count; i++) {
		int qos =
			chunk->count > 1 ? resp->alt.qosList[i] : resp->alt.qos;
		size_t k = chunk->first + i;

		if (qos == 0x80)
			log_error("mqtt: the broker refused the subscription "
				  "to %s",
				  k < m->sub_count ? m->sub_topics[k] : "?");
	}
	pthread_mutex_unlock(&m->lock);
}

static void paho_subscribe_failed311(void *context, MQTTAsync_failureData *resp)
{
	const struct mqtt_sub_chunk *chunk = context;

	mqtt_push_status(chunk->m, MQTT_EV_SUBSCRIBED, NULL);
	log_error("mqtt: subscribe failed: %s",
		  MQTTAsync_strerror(resp ? resp->code : MQTTASYNC_FAILURE));
}

/* A QoS 1 publish left the window: the loop sends what waits for it. */
static void paho_publish_done(struct iotcar_mqtt *m)
{
	uint64_t one = 1;

	if (mqtt_window_leave(&m->window) &&
	    write(m->inbox.evfd, &one, sizeof(one)) < 0) {
		/* Already signalled. */
	}
}

static void paho_publish_ok(void *context, MQTTAsync_successData5 *resp)
{
	(void)resp;
	paho_publish_done(context);
}

static void paho_publish_failed(void *context, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	paho_publish_done(context);
}

static void paho_publish_ok311(void *context, MQTTAsync_successData *resp)
{
	(void)resp;
	paho_publish_done(context);
}

static void paho_publish_failed311(void *context, MQTTAsync_failureData *resp)
{
	(void)resp;
	paho_publish_done(context);
}

static void paho_disconnect_done(struct iotcar_mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	m->disconnect_done = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void paho_disconnect_ok(void *context, MQTTAsync_successData5 *resp)
{
	(void)resp;
	paho_disconnect_done(context);
}

static void paho_disconnect_failed(void *context, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	paho_disconnect_done(context);
}

static void paho_disconnect_ok311(void *context, MQTTAsync_successData *resp)
{
	(void)resp;
	paho_disconnect_done(context);
}

static void paho_disconnect_failed311(void *context,
				      MQTTAsync_failureData *resp)
{
	(void)resp;
	paho_disconnect_done(context);
}

/* ==== Connecting ==== */

static void mqtt_connect(struct iotcar_mqtt *m)
{
	MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_connectOptions co311 = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions co = m->v311 ? co311 : co5;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	int rc;

	co.keepAliveInterval = m->keepalive_s;
	co.connectTimeout = MQTT_CONNECT_TIMEOUT_S;
	co.username = m->username;
	co.password = m->password;
	if (m->v311) {
		co.MQTTVersion = MQTTVERSION_3_1_1;
		co.cleansession = 1;
		co.onSuccess = paho_connect_ok311;
		co.onFailure = paho_connect_failed311;
	} else {
		co.cleanstart = 1;
		co.onSuccess5 = paho_connect_ok;
		co.onFailure5 = paho_connect_failed;
	}
	co.context = m;
	/* Several brokers: one at a time, in order; a failure moves on to
	 * the next at once (mqtt_handle_status). Paho's own list named the
	 * first one after it had moved on to another (1.3.14). */
	if (m->nuris > 1) {
		co.serverURIs = &m->uris[m->uri_at];
		co.serverURIcount = 1;
	}
	if (m->will_topic) {
		will.topicName = m->will_topic;
		will.message = m->will_payload;
		will.retained = 1;
		will.qos = 1;
		co.will = &will;
	}
	if (m->tls) {
		ssl.trustStore = m->cafile;
		ssl.keyStore = m->cert;
		ssl.privateKey = m->key;
		ssl.enableServerCertAuth = 1;
		ssl.verify = 1;
		ssl.ssl_error_cb = paho_ssl_error;
		ssl.ssl_error_context = m;
		co.ssl = &ssl;
	}
	m->attempting = true;
	log_debug("mqtt: connecting to %s", m->uris[m->uri_at]);
	rc = MQTTAsync_connect(m->client, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		m->attempting = false;
		mqtt_push_status(m, MQTT_EV_CONNECT_FAILED,
				 MQTTAsync_strerror(rc));
		return;
	}
	iotcar_timer_start(m->retry, MQTT_ATTEMPT_DEADLINE_MS, 0);
}

/* The retry timer: time for the next attempt, or the deadline of this one. */
static void mqtt_on_retry(void *ctx)
{
	struct iotcar_mqtt *m = ctx;

	if (m->stopped || m->connected)
		return;
	if (!m->attempting) {
		mqtt_connect(m);
		return;
	}
	m->attempting = false;
	mqtt_push_status(m, MQTT_EV_CONNECT_FAILED,
			 "no answer to the connect from the MQTT library");
}

static void mqtt_schedule_retry(struct iotcar_mqtt *m)
{
	iotcar_timer_start(m->retry, m->retry_ms, 0);
	m->retry_ms = m->retry_ms * 2 > m->retry_max_ms ? m->retry_max_ms
							: m->retry_ms * 2;
}

static void mqtt_flush_window(struct iotcar_mqtt *m);

/* Is @p uri the broker of one of our sockets? Sets TCP_NODELAY on it. */
static bool mqtt_nodelay_uri(const char *uri)
{
	char host[MQTT_HOST_MAX];
	char port[8];
	bool tls;

	return !mqtt_uri_parse(uri, &tls, host, sizeof(host), port,
			       sizeof(port)) &&
	       mqtt_nodelay_set(host, port);
}

/* The connection is gone: forget its publishes, and try again. */
static void mqtt_lost(struct iotcar_mqtt *m, const char *reason, int code)
{
	m->connected = false;
	/* Every reconnect tries the brokers in order again. */
	m->uri_at = 0;
	mqtt_window_reset(&m->window, 0);
	log_warning_limited("mqtt: lost %s: %s", m->server, reason);
	/* Another client took our client id: coming straight back would
	 * only push it off in turn, and it us. */
	if (code == IOTCAR_MQTT_SESSION_TAKEN_OVER)
		m->retry_ms = m->retry_max_ms;
	else if (iotcar_clock_ms() - m->connected_ms >= MQTT_STABLE_MS)
		m->retry_ms = m->retry_min_ms;
	mqtt_schedule_retry(m);
	if (m->handlers.disconnected)
		m->handlers.disconnected(m->ctx, reason, code);
}

static void mqtt_handle_status(struct iotcar_mqtt *m, struct mqtt_event *ev)
{
	switch (ev->type) {
	case MQTT_EV_CONNECTED:
		mqtt_window_reset(&m->window, ev->receive_max);
		m->attempting = false;
		m->connected = true;
		m->connected_ms = iotcar_clock_ms();
		m->failures = 0;
		m->last_failure[0] = '\0';
		m->subs_pending = 0;
		m->subscribed_told = false;
		snprintf(m->server, sizeof(m->server), "%s",
			 m->uris[m->uri_at]);
		if (!mqtt_nodelay_uri(m->server))
			log_warning("mqtt: broker socket not found; "
				    "TCP_NODELAY not set, expect ~40 ms "
				    "delays");
		if (m->nuris > 1)
			log_info("mqtt: connected to %s (of %d brokers)",
				 m->server, m->nuris);
		else
			log_info("mqtt: connected to %s", m->server);
		if (m->handlers.connected)
			m->handlers.connected(m->ctx);
		break;
	case MQTT_EV_CONNECT_FAILED:
		m->attempting = false;
		if (m->uri_at + 1 < m->nuris && !m->stopped) {
			log_debug("mqtt: cannot connect to %s: %s; trying "
				  "the next",
				  m->uris[m->uri_at], ev->reason);
			m->uri_at++;
			mqtt_connect(m);
			break;
		}
		m->uri_at = 0;
		/* The same failure again is not news: say it once. */
		if (m->failures++ == 0 || strcmp(m->last_failure, ev->reason))
			log_warning("mqtt: cannot connect to %s: %s; retrying",
				    m->uri, ev->reason);
		snprintf(m->last_failure, sizeof(m->last_failure), "%s",
			 ev->reason);
		mqtt_schedule_retry(m);
		break;
	case MQTT_EV_LOST:
		if (m->connected)
			mqtt_lost(m, ev->reason, ev->reason_code);
		break;
	case MQTT_EV_SUBSCRIBED:
		if (!m->connected || m->subs_pending == 0 ||
		    --m->subs_pending > 0 || m->subscribed_told)
			break;
		m->subscribed_told = true;
		if (m->handlers.subscribed)
			m->handlers.subscribed(m->ctx);
		break;
	case MQTT_EV_OVERLOAD:
		if (m->handlers.overload)
			m->handlers.overload(m->ctx);
		break;
	case MQTT_EV_MESSAGE:
		break;
	}
}

/* The inbox woke us: take all it holds and dispatch it in order. */
static void mqtt_on_inbox(void *ctx, int fd, uint32_t events)
{
	struct iotcar_mqtt *m = ctx;
	struct mqtt_event *ev = mqtt_inbox_take(&m->inbox);

	(void)fd;
	(void)events;
	while (ev) {
		struct mqtt_event *next = ev->next;

		if (m->stopped) {
			/* After stop no handler runs. */
		} else if (ev->type == MQTT_EV_MESSAGE) {
			if (m->handlers.message)
				m->handlers.message(m->ctx, &ev->msg);
		} else {
			mqtt_handle_status(m, ev);
		}
		mqtt_event_free(&m->inbox, ev);
		ev = next;
	}
	mqtt_flush_window(m);
}

/* ==== Public API ==== */

static int mqtt_dup(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int mqtt_copy_opts(struct iotcar_mqtt *m,
			  const struct iotcar_mqtt_opts *o)
{
	if (mqtt_dup(&m->uri, o->uri) ||
	    mqtt_dup(&m->client_id, o->client_id) ||
	    mqtt_dup(&m->username, o->username) ||
	    mqtt_dup(&m->password, o->password) ||
	    mqtt_dup(&m->cafile, o->cafile) || mqtt_dup(&m->cert, o->cert) ||
	    mqtt_dup(&m->key, o->key) ||
	    mqtt_dup(&m->will_topic, o->will_topic) ||
	    mqtt_dup(&m->will_payload, o->will_payload))
		return -ENOMEM;
	m->keepalive_s = o->keepalive_s > 0 ? o->keepalive_s : 10;
	m->exit_after_free = o->exit_after_free;
	m->v311 = o->v311;
	m->retry_min_ms = o->reconnect_min_ms > 0 ? o->reconnect_min_ms : 250;
	m->retry_max_ms = o->reconnect_max_ms > m->retry_min_ms
				  ? o->reconnect_max_ms
				  : m->retry_min_ms;
	m->retry_ms = m->retry_min_ms;
	return 0;
}

/* The version of the Paho library loaded, "1.3.12"; "" when it says none. */
static const char *mqtt_paho_version(void)
{
	MQTTAsync_nameValue *v = MQTTAsync_getVersionInfo();

	for (; v && v->name; v++) {
		if (!strcmp(v->name, "Version"))
			return v->value;
	}
	return "";
}

static int mqtt_create_client(struct iotcar_mqtt *m)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	int rc;

	if (m->v311)
		co.MQTTVersion = MQTTVERSION_3_1_1;
	co.maxBufferedMessages = MQTT_PAHO_BUFFERED_MAX;
	rc = MQTTAsync_createWithOptions(&m->client, m->uris[0], m->client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL,
					 &co);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error("mqtt: cannot create a client for %s: %s", m->uri,
			  MQTTAsync_strerror(rc));
		return -EINVAL;
	}
	MQTTAsync_setCallbacks(m->client, m, paho_connection_lost, paho_message,
			       NULL);
	MQTTAsync_setDisconnected(m->client, m, paho_disconnected);
	return 0;
}

struct iotcar_mqtt *iotcar_mqtt_new(struct iotcar_loop *loop,
				    const struct iotcar_mqtt_opts *opts,
				    const struct iotcar_mqtt_handlers *handlers,
				    void *ctx)
{
	struct iotcar_mqtt *m = calloc(1, sizeof(*m));
	const char *version = mqtt_paho_version();

	if (!m)
		return NULL;
	m->inbox.evfd = -1;
	m->loop = loop;
	m->handlers = *handlers;
	m->ctx = ctx;
	pthread_mutex_init(&m->lock, NULL);
	if (mqtt_cond_init(&m->cond) || mqtt_inbox_init(&m->inbox) ||
	    mqtt_window_init(&m->window) || mqtt_copy_opts(m, opts))
		goto err;
	log_debug("mqtt: Paho %s", version);
	if (!m->uri || !m->client_id || !(m->uri_list = strdup(m->uri)) ||
	    (m->nuris = mqtt_uri_list_split(m->uri_list, m->uris, &m->tls)) <
		    0) {
		errno = EINVAL;
		goto err;
	}
	snprintf(m->server, sizeof(m->server), "%s", m->uris[0]);
	if (iotcar_loop_add_fd(loop, m->inbox.evfd, EPOLLIN, mqtt_on_inbox, m))
		goto err;
	m->retry = iotcar_timer_new(loop, mqtt_on_retry, m);
	if (!m->retry || mqtt_create_client(m))
		goto err;
	return m;
err:
	iotcar_mqtt_free(m);
	return NULL;
}

int iotcar_mqtt_start(struct iotcar_mqtt *m)
{
	if (m->started)
		return -EALREADY;
	m->started = true;
	mqtt_connect(m);
	return 0;
}

bool iotcar_mqtt_is_connected(const struct iotcar_mqtt *m)
{
	return m->connected;
}

static void mqtt_free_sub_topics(struct iotcar_mqtt *m)
{
	for (size_t i = 0; i < m->sub_count; i++)
		free(m->sub_topics[i]);
	free(m->sub_topics);
	m->sub_topics = NULL;
	m->sub_count = 0;
}

static int mqtt_remember_subs(struct iotcar_mqtt *m,
			      const struct iotcar_mqtt_sub *subs, size_t count)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	mqtt_free_sub_topics(m);
	m->sub_topics = calloc(count, sizeof(char *));
	if (!m->sub_topics) {
		ret = -ENOMEM;
		goto out;
	}
	for (; m->sub_count < count; m->sub_count++) {
		m->sub_topics[m->sub_count] = strdup(subs[m->sub_count].topic);
		if (!m->sub_topics[m->sub_count]) {
			ret = -ENOMEM;
			break;
		}
	}
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int iotcar_mqtt_subscribe(struct iotcar_mqtt *m,
			  const struct iotcar_mqtt_sub *subs, size_t count)
{
	MQTTSubscribe_options so[MQTT_SUBS_MAX];
	char *topics[MQTT_SUBS_MAX];
	int qos[MQTT_SUBS_MAX];

	if (!m->connected)
		return -ENOTCONN;
	if (count == 0 || count > MQTT_SUBS_MAX)
		return -EINVAL;
	if (mqtt_remember_subs(m, subs, count))
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		MQTTSubscribe_options init = MQTTSubscribe_options_initializer;

		so[i] = init;
		/* MQTT 3.1.1 has none: the flag marks only what was kept. */
		so[i].retainAsPublished = !m->v311 && !subs[i].retain_kept_only;
		topics[i] = m->sub_topics[i];
		qos[i] = subs[i].qos;
	}
	/* A few filters per SUBSCRIBE: AWS IoT takes at most 8 in one. */
	for (size_t first = 0; first < count;
	     first += MQTT_FILTERS_PER_SUBSCRIBE) {
		MQTTAsync_responseOptions ro =
			MQTTAsync_responseOptions_initializer;
		struct mqtt_sub_chunk *chunk =
			&m->sub_chunks[first / MQTT_FILTERS_PER_SUBSCRIBE];
		size_t n = count - first < MQTT_FILTERS_PER_SUBSCRIBE
				   ? count - first
				   : MQTT_FILTERS_PER_SUBSCRIBE;

		chunk->m = m;
		chunk->first = first;
		chunk->count = n;
		if (m->v311) {
			ro.onSuccess = paho_subscribe_ok311;
			ro.onFailure = paho_subscribe_failed311;
		} else {
			ro.onSuccess5 = paho_subscribe_ok;
			ro.onFailure5 = paho_subscribe_failed;
			ro.subscribeOptionsList = so + first;
			ro.subscribeOptionsCount = (int)n;
		}
		ro.context = chunk;
		if (MQTTAsync_subscribeMany(m->client, (int)n, topics + first,
					    qos + first,
					    &ro) != MQTTASYNC_SUCCESS)
			return -EIO;
		m->subs_pending++;
	}
	return 0;
}

/* Hand one publish to Paho; QoS 1/2 ones already hold a window slot. */
static int mqtt_submit(struct iotcar_mqtt *m, const char *topic,
		       const void *payload, size_t len, int qos, bool retain,
		       const void *correlation, size_t correlation_len,
		       const char *response_topic)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA};
	MQTTProperty rt = {.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC};
	int rc;

	msg.payload = (void *)(uintptr_t)payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = retain;
	/* MQTT 3.1.1 has no properties: no v5 request ever came. */
	if (correlation && !m->v311) {
		p.value.data.data = (char *)(uintptr_t)correlation;
		p.value.data.len = (int)correlation_len;
		if (MQTTProperties_add(&msg.properties, &p)) {
			rc = MQTTASYNC_FAILURE;
			goto out;
		}
	}
	if (response_topic && !m->v311) {
		rt.value.data.data = (char *)(uintptr_t)response_topic;
		rt.value.data.len = (int)strlen(response_topic);
		if (MQTTProperties_add(&msg.properties, &rt)) {
			MQTTProperties_free(&msg.properties);
			rc = MQTTASYNC_FAILURE;
			goto out;
		}
	}
	if (qos > 0 && m->v311) {
		ro.onSuccess = paho_publish_ok311;
		ro.onFailure = paho_publish_failed311;
		ro.context = m;
	} else if (qos > 0) {
		ro.onSuccess5 = paho_publish_ok;
		ro.onFailure5 = paho_publish_failed;
		ro.context = m;
	}
	rc = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
	MQTTProperties_free(&msg.properties);
out:
	if (rc != MQTTASYNC_SUCCESS && qos > 0)
		mqtt_window_leave(&m->window);
	switch (rc) {
	case MQTTASYNC_SUCCESS:
		return 0;
	case MQTTASYNC_DISCONNECTED:
		return -ENOTCONN;
	case MQTTASYNC_MAX_BUFFERED_MESSAGES:
	case MQTTASYNC_MAX_MESSAGES_INFLIGHT:
		return -ENOBUFS;
	default:
		return -EIO;
	}
}

/* Hand Paho the publishes held back while the window has room. */
static void mqtt_flush_window(struct iotcar_mqtt *m)
{
	struct mqtt_out *o;

	while (m->connected && (o = mqtt_window_next(&m->window))) {
		int ret = mqtt_submit(m, o->topic, o->payload, o->len, o->qos,
				      o->retain, o->correlation,
				      o->correlation_len, NULL);

		if (ret)
			log_debug("mqtt: publish to %s failed: %s", o->topic,
				  strerror(-ret));
		free(o);
	}
}

int iotcar_mqtt_send(struct iotcar_mqtt *m, const struct iotcar_mqtt_pub *p)
{
	struct mqtt_out *o;
	int ret;

	if (!m->connected)
		return -ENOTCONN;
	if (p->len > IOTCAR_MQTT_PAYLOAD_MAX || p->qos < 0 || p->qos > 2)
		return -EINVAL;
	if (p->qos > 0 && mqtt_window_enter(&m->window) != 0) {
		o = mqtt_out_new(p);
		return o ? mqtt_window_hold(&m->window, o) : -ENOMEM;
	}
	ret = mqtt_submit(m, p->topic, p->payload, p->len, p->qos, p->retain,
			  p->correlation_len ? p->correlation : NULL,
			  p->correlation_len, NULL);
	if (ret == -ENOBUFS)
		m->window.lost++;
	return ret;
}

int iotcar_mqtt_publish(struct iotcar_mqtt *m, const char *topic,
			const void *payload, size_t len, int qos, bool retain)
{
	struct iotcar_mqtt_pub p = {.topic = topic,
				    .payload = payload,
				    .len = len,
				    .qos = qos,
				    .retain = retain};

	return iotcar_mqtt_send(m, &p);
}

int iotcar_mqtt_request(struct iotcar_mqtt *m, const char *topic,
			const void *payload, size_t len,
			const char *response_topic)
{
	if (!m->connected)
		return -ENOTCONN;
	if (len > IOTCAR_MQTT_PAYLOAD_MAX || !response_topic)
		return -EINVAL;
	return mqtt_submit(m, topic, payload, len, 0, false, NULL, 0,
			   response_topic);
}

void iotcar_mqtt_reconnect(struct iotcar_mqtt *m, const char *reason)
{
	MQTTAsync_disconnectOptions d =
		MQTTAsync_disconnectOptions_initializer5;

	if (m->stopped || !m->connected)
		return;
	/* Given up on either way: whether Paho could say goodbye through a
	 * dead link does not matter. Should it get through (the link was
	 * only slow, or this process stalled), the broker still publishes
	 * our will: until we are back, we are offline. */
	d.timeout = 0;
	d.reasonCode = MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE;
	if (MQTTAsync_disconnect(m->client, &d) != MQTTASYNC_SUCCESS)
		log_debug("mqtt: disconnect refused; reconnecting anyway");
	/* Our own verdict says nothing against the broker: come back as
	 * soon as the link lets us. */
	m->connected_ms = 0;
	mqtt_lost(m, reason, 0);
}

uint64_t iotcar_mqtt_dropped(struct iotcar_mqtt *m)
{
	return m->inbox.dropped;
}

uint64_t iotcar_mqtt_lost(struct iotcar_mqtt *m)
{
	return m->window.lost;
}

int iotcar_mqtt_stop(struct iotcar_mqtt *m, int timeout_ms)
{
	MQTTAsync_disconnectOptions d =
		MQTTAsync_disconnectOptions_initializer5;
	struct timespec deadline;
	int ret;

	if (m->stopped)
		return 0;
	m->stopped = true;
	if (m->retry)
		iotcar_timer_stop(m->retry);
	if (!m->client || !MQTTAsync_isConnected(m->client))
		return 0;
	mqtt_deadline(&deadline, timeout_ms);
	/*
	 * Paho re-checks a disconnect that waits for acknowledgements only
	 * every 3 s; so wait for them here, then disconnect at once.
	 */
	do {
		mqtt_flush_window(m);
		ret = mqtt_window_wait_idle(&m->window, &deadline);
	} while (ret == -EAGAIN);
	d.timeout = 0;
	if (m->v311) {
		d.onSuccess = paho_disconnect_ok311;
		d.onFailure = paho_disconnect_failed311;
	} else {
		d.onSuccess5 = paho_disconnect_ok;
		d.onFailure5 = paho_disconnect_failed;
	}
	d.context = m;
	if (MQTTAsync_disconnect(m->client, &d) != MQTTASYNC_SUCCESS)
		return 0;
	deadline.tv_sec += 1;
	pthread_mutex_lock(&m->lock);
	while (!m->disconnect_done && ret == 0)
		ret = pthread_cond_timedwait(&m->cond, &m->lock, &deadline);
	pthread_mutex_unlock(&m->lock);
	m->connected = false;
	return ret ? -ETIMEDOUT : 0;
}

/* The client an exiting process left to its exit (exit_after_free). */
static struct iotcar_mqtt *mqtt_left_to_exit;

/*
 * Off the loop, which is freed next; everything else stays valid, and
 * reachable, until the exit: Paho keeps pointers to @p m, and its threads
 * run until then (after a completed disconnect they call nothing).
 */
static void mqtt_leave_to_exit(struct iotcar_mqtt *m)
{
	iotcar_timer_free(m->retry);
	m->retry = NULL;
	if (m->inbox.evfd >= 0)
		iotcar_loop_del_fd(m->loop, m->inbox.evfd);
	mqtt_left_to_exit = m;
}

void iotcar_mqtt_free(struct iotcar_mqtt *m)
{
	if (!m)
		return;
	if (m->client) {
		iotcar_mqtt_stop(m, 1000);
		/* One by one: setCallbacks() refuses a NULL message handler. */
		MQTTAsync_setConnectionLostCallback(m->client, NULL, NULL);
		MQTTAsync_setDisconnected(m->client, NULL, NULL);
		if (m->exit_after_free) {
			mqtt_leave_to_exit(m);
			return;
		}
		MQTTAsync_destroy(&m->client);
	}
	iotcar_timer_free(m->retry);
	if (m->inbox.evfd >= 0)
		iotcar_loop_del_fd(m->loop, m->inbox.evfd);
	mqtt_inbox_cleanup(&m->inbox);
	mqtt_window_cleanup(&m->window);
	mqtt_free_sub_topics(m);
	free(m->uri);
	free(m->uri_list);
	free(m->client_id);
	free(m->username);
	if (m->password)
		explicit_bzero(m->password, strlen(m->password));
	free(m->password);
	free(m->cafile);
	free(m->cert);
	free(m->key);
	free(m->will_topic);
	free(m->will_payload);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

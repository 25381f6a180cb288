/* SPDX-License-Identifier: MIT */
/*
 * server.h: car-bridge's sockets — the TCP and UDP listeners of the text
 * protocol and the raw channels — on the one event loop, with every limit
 * of protocol §5. Messages become requests (proto.c); requests for the car go
 * through the router (router.c).
 *
 * Context: the loop's thread.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>

#include "iotcar/loop.h"
#include "iotcar/mqtt.h"
#include "settings.h"

struct server;

/**
 * @brief Create the server. @p s is borrowed and must outlive it; @p token
 * (NULL for none) and @p mqtt_opts are copied.
 * @return The server, or NULL with a message in @p err.
 */
struct server *server_new(struct iotcar_loop *loop,
			  const struct bridge_settings *s, const char *token,
			  const struct iotcar_mqtt_opts *mqtt_opts, char *err,
			  size_t errlen);

/**
 * @brief Open the listeners and connect to the broker.
 * @return 0, or a negative errno with a message in @p err.
 */
int server_start(struct server *srv, char *err, size_t errlen);

/** @brief Close every socket, publish `offline`, disconnect. */
void server_stop(struct server *srv);

void server_free(struct server *srv);

#endif

// SPDX-License-Identifier: MIT
/*
 * mqtt_nodelay.c: TCP_NODELAY on the broker's socket; see mqtt_int.h.
 * Paho (no release up to 1.3.15) has no option for it, and Nagle's
 * algorithm with delayed ACKs adds ~40 ms to every lockstep message. So
 * after each connect, look through /proc/self/fd for our connection to the
 * broker and set it there.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "iotcar/text.h"
#include "mqtt_int.h"

static bool nodelay_same_peer(const struct sockaddr_storage *peer,
			      const struct addrinfo *ai)
{
	if (peer->ss_family != ai->ai_family)
		return false;
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)peer;
		const struct sockaddr_in *b = (const void *)ai->ai_addr;

		return a->sin_port == b->sin_port &&
		       a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)peer;
		const struct sockaddr_in6 *b = (const void *)ai->ai_addr;

		return a->sin6_port == b->sin6_port &&
		       !memcmp(&a->sin6_addr, &b->sin6_addr,
			       sizeof(a->sin6_addr));
	}
	return false;
}

static uint16_t nodelay_peer_port(const struct sockaddr_storage *peer)
{
	if (peer->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)peer)
				     ->sin_port);
	if (peer->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)peer)
				     ->sin6_port);
	return 0;
}

/*
 * Does this fd look like our broker connection? By address and port when the
 * broker's host is a literal address; by port alone for a host name, so that
 * no DNS lookup ever blocks the loop. A false match only gives some other TCP
 * socket of ours TCP_NODELAY, which every iotcar program wants anyway.
 */
static bool nodelay_is_broker_fd(int fd, const struct addrinfo *addrs,
				 uint16_t port)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int type;
	socklen_t tlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
	    type != SOCK_STREAM)
		return false;
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		return false;
	if (!addrs)
		return nodelay_peer_port(&peer) == port;
	for (const struct addrinfo *ai = addrs; ai; ai = ai->ai_next) {
		if (nodelay_same_peer(&peer, ai))
			return true;
	}
	return false;
}

int mqtt_nodelay_set(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *addrs = NULL;
	struct dirent *de;
	int found = 0;
	int one = 1;
	long portnum = 0;
	DIR *dir;

	if (getaddrinfo(host, port, &hints, &addrs) != 0)
		addrs = NULL;
	iotcar_parse_long(port, 1, 65535, &portnum);
	dir = opendir("/proc/self/fd");
	if (!dir)
		goto out;
	while ((de = readdir(dir)) != NULL) {
		long fd;

		if (iotcar_parse_long(de->d_name, 0, 1 << 30, &fd) ||
		    fd == dirfd(dir) ||
		    !nodelay_is_broker_fd((int)fd, addrs, (uint16_t)portnum))
			continue;
		if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one,
			       sizeof(one)) == 0)
			found++;
	}
	closedir(dir);
out:
	freeaddrinfo(addrs);
	return found;
}

/* SPDX-License-Identifier: MIT */
/*
 * frame.h: cutting a TCP byte stream into messages (protocol §5). A '\n' ends a
 * message and a '\r' before it is dropped. Beginner clients send one word
 * per sendall() and no newline at all: until a connection has sent its
 * first '\n', the bytes left once its socket is drained are one message —
 * when they are a whole command. A person typing into telnet or PuTTY
 * sends one byte at a time: a tail of a single byte, or one that stays a
 * cut word ("for"), says the connection is typing, and from then on it is
 * in line mode too, where a partial line waits for its newline (the caller
 * times it out). So "forward" typed key by key is one line, and the 'w'
 * and 'a' inside it never drive the car. A connection whose first byte is
 * telnet's IAC is in line mode from the start, and its option negotiation
 * is taken out of the stream. Pure: no sockets, no clock.
 */
#ifndef FRAME_H
#define FRAME_H

#include <stdbool.h>
#include <stddef.h>

struct frame {
	/* The partial message; allocated on first need, max + 1 bytes. */
	char *buf;
	size_t len;
	/* Longest message; a longer one is an error. */
	size_t max;
	/* A '\n' has been seen, or typing, or telnet: partial lines wait
	 * for their newline. */
	bool line_mode;
	/* The first byte was telnet's IAC; where its negotiation stands. */
	bool telnet;
	unsigned char tn_state;
	bool started;
};

/**
 * Called for each message (without '\n' or '\r'), @p len may be 0.
 * Return 0 to go on, non-zero to stop (the connection is closing).
 */
typedef int frame_msg_cb(void *ctx, const char *msg, size_t len);

/** @brief Start empty, with messages of at most @p max bytes. */
void frame_init(struct frame *f, size_t max);

/** @brief Free the buffer. */
void frame_cleanup(struct frame *f);

/**
 * @brief Add @p n bytes read from the socket; @p cb gets every complete
 * message in order.
 * @return 0; the callback's non-zero value if it stopped; -EMSGSIZE when a
 * message grows past max (the connection should be closed); -ENOMEM.
 */
int frame_feed(struct frame *f, const char *data, size_t n, frame_msg_cb *cb,
	       void *ctx);

/**
 * @brief The socket has nothing more waiting. Before line mode the tail is
 * one message; but a single byte is a keystroke (line mode from now on),
 * and a tail @p incomplete says may be the start of a longer word waits a
 * moment (call frame_typing() when tired of waiting).
 * @return As frame_feed(); 1 when a tail was kept waiting.
 */
int frame_drained(struct frame *f, bool (*incomplete)(const char *, size_t),
		  frame_msg_cb *cb, void *ctx);

/** @brief The tail waited in vain: the client types; line mode. */
void frame_typing(struct frame *f);

/** @brief Deliver whatever tail there is as one message (the end). */
int frame_flush(struct frame *f, frame_msg_cb *cb, void *ctx);

/** @brief True when bytes of an unfinished message are held. */
bool frame_has_partial(const struct frame *f);

#endif

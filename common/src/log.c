// SPDX-License-Identifier: MIT
/*
 * log.c: the logger of log.h. Each line is formatted into one buffer and
 * written with a single write(2) so Paho's threads and the main loop never
 * interleave half-lines. When stderr is the journal's stream
 * ($JOURNAL_STREAM names its device and inode, systemd.exec(5)), a line
 * starts with its syslog priority (sd-daemon.h's SD_ERR ...) instead of a
 * time: journald keeps both, and `journalctl -p warning` filters on it.
 */
#include "iotcar/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "iotcar/loop.h"

static const char *log_prog = "iotcar";
static enum iotcar_log_level log_threshold = IOTCAR_LOG_INFO;
static bool log_journal;

static const char *const log_names[] = {
	[IOTCAR_LOG_ERROR] = "error",
	[IOTCAR_LOG_WARNING] = "warning",
	[IOTCAR_LOG_INFO] = "info",
	[IOTCAR_LOG_DEBUG] = "debug",
};

static const char *const log_priorities[] = {
	[IOTCAR_LOG_ERROR] = SD_ERR,
	[IOTCAR_LOG_WARNING] = SD_WARNING,
	[IOTCAR_LOG_INFO] = SD_INFO,
	[IOTCAR_LOG_DEBUG] = SD_DEBUG,
};

/* Whether stderr is the stream $JOURNAL_STREAM ("device:inode") names. */
static bool log_to_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev;
	unsigned long long ino;
	struct stat st;

	return env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev &&
	       st.st_ino == ino;
}

void iotcar_log_init(const char *prog, enum iotcar_log_level level)
{
	log_prog = prog;
	log_threshold = level;
	log_journal = log_to_journal();
}

int iotcar_log_level_parse(const char *text, enum iotcar_log_level *level)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(text, log_names[i]) == 0) {
			*level = (enum iotcar_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool iotcar_log_enabled(enum iotcar_log_level level)
{
	return level <= log_threshold;
}

void iotcar_log(enum iotcar_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;
	int saved_errno = errno;
	int ret;

	if (!iotcar_log_enabled(level))
		return;
	if (log_journal) {
		ret = snprintf(line, sizeof(line),
			       "%s%s: %s: ", log_priorities[level], log_prog,
			       log_names[level]);
	} else {
		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		ret = snprintf(line, sizeof(line),
			       "%02d:%02d:%02d.%03ld %s: %s: ", tm.tm_hour,
			       tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000),
			       log_prog, log_names[level]);
	}
	if (ret < 0)
		return;
	n = (size_t)ret < sizeof(line) ? (size_t)ret : sizeof(line) - 1;
	va_start(ap, fmt);
	ret = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (ret < 0)
		return;
	n += (size_t)ret;
	/* A line too long for the buffer is cut, never dropped. */
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report it. */
	}
	errno = saved_errno;
}

void iotcar_log_burst_tick(struct iotcar_log_burst *b, uint64_t count,
			   int64_t now_ms)
{
	if (count > b->last && !b->active) {
		b->active = true;
		b->start = b->last;
		b->start_ms = now_ms;
		log_warning("%s", b->what);
	} else if (count == b->last && b->active) {
		b->active = false;
		log_warning("%s: %llu in %lld ms", b->what,
			    (unsigned long long)(count - b->start),
			    (long long)(now_ms - b->start_ms));
	}
	b->last = count;
}

static pthread_mutex_t log_limit_lock = PTHREAD_MUTEX_INITIALIZER;

bool iotcar_log_limit_at(struct iotcar_log_limit *l, int64_t now_ms,
			 uint64_t *suppressed)
{
	bool pass;

	pthread_mutex_lock(&log_limit_lock);
	if (l->printed == 0 || now_ms - l->window_ms >= IOTCAR_LOG_LIMIT_MS) {
		l->window_ms = now_ms;
		l->printed = 0;
	}
	pass = l->printed < IOTCAR_LOG_LIMIT_BURST;
	if (pass) {
		l->printed++;
		*suppressed = l->suppressed;
		l->suppressed = 0;
	} else {
		l->suppressed++;
	}
	pthread_mutex_unlock(&log_limit_lock);
	return pass;
}

bool iotcar_log_limit_pass(struct iotcar_log_limit *l, uint64_t *suppressed)
{
	return iotcar_log_limit_at(l, iotcar_clock_ms(), suppressed);
}

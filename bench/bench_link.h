/* SPDX-License-Identifier: MIT */
/*
 * bench_link.h: bench-agent --link, the link layer measured across silent
 * partitions in network namespaces (bench_link.c).
 */
#ifndef BENCH_LINK_H
#define BENCH_LINK_H

/**
 * @brief Run @p rounds partitions of @p partition_ms against the car-agent
 * binary @p agent and print the figures.
 * @return 0, 1 on failure, 2 when not root.
 */
int bench_link_run(const char *agent, int rounds, int partition_ms);

#endif

/* Workloads with known hot functions for the profiler tests (built with frame pointers,
 * -O1; a second build without frame pointers checks that short stacks are counted).
 *
 *   profile_target spin [SECONDS]     spin_a does 3x the work of spin_b, in a loop
 *   profile_target other [SECONDS]    spin_c only (a different program for attribution tests)
 *   profile_target syscall [SECONDS]  read(2) from /dev/zero in a loop (kernel time)
 *   profile_target sleep [SECONDS]    block_in_sleep: 2 ms nanosleep in a loop (off-CPU time)
 *   profile_target stacks [SECONDS]   spin_b at the bottom of 1..200 nested descend() calls:
 *                                     about 200 distinct user stacks (map overflow tests)
 *   profile_target bench ITERATIONS   fixed CPU work, then exit (benchmark workload)
 *
 * Without SECONDS the loop runs until killed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORK_UNIT 100000

volatile uint64_t sink;

/* noipa: neither inlined nor cloned nor merged, so each name owns its samples. */
__attribute__((noinline, noipa)) static uint64_t churn(uint64_t x, long iterations)
{
	for (long i = 0; i < iterations; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

/* The work is inline in each function (not in churn) so samples land in spin_a / spin_b. */
__attribute__((noinline, noipa)) void spin_a(void)
{
	uint64_t x = sink;

	for (long i = 0; i < 3 * WORK_UNIT; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline, noipa)) void spin_b(void)
{
	uint64_t x = sink;

	for (long i = 0; i < WORK_UNIT; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline, noipa)) void spin_c(void)
{
	uint64_t x = sink;

	for (long i = 0; i < WORK_UNIT; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline, noipa)) void do_reads(int fd, char *buf, size_t size)
{
	if (read(fd, buf, size) < 0)
		exit(3);
}

__attribute__((noinline, noipa)) void block_in_sleep(void)
{
	struct timespec ts = {0, 2 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

/* Not a tail call (the store after it), so every level keeps a frame. */
__attribute__((noinline, noipa)) void descend(int depth)
{
	if (depth > 0) {
		descend(depth - 1);
		sink++;
	} else {
		spin_b();
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "spin";
	const double seconds = argc > 2 ? atof(argv[2]) : 0;
	const double end = seconds > 0 ? now_s() + seconds : 0;
	static char buf[65536];
	int fd = -1;

	if (!strcmp(mode, "bench")) {
		long n = argc > 2 ? atol(argv[2]) : 1000;
		for (long i = 0; i < n; i++)
			sink = churn(sink, WORK_UNIT);
		return 0;
	}
	if (!strcmp(mode, "syscall")) {
		fd = open("/dev/zero", O_RDONLY);
		if (fd < 0)
			return 2;
	}
	for (;;) {
		if (!strcmp(mode, "spin")) {
			spin_a();
			spin_b();
		} else if (!strcmp(mode, "other")) {
			spin_c();
		} else if (!strcmp(mode, "syscall")) {
			do_reads(fd, buf, sizeof(buf));
		} else if (!strcmp(mode, "sleep")) {
			block_in_sleep();
		} else if (!strcmp(mode, "stacks")) {
			static unsigned depth;
			descend(1 + (depth++ * 7919) % 200);
		} else {
			fprintf(stderr, "profile_target: unknown mode '%s'\n", mode);
			return 2;
		}
		if (end && now_s() >= end)
			return 0;
	}
}

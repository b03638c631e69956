/* Workloads with known hot functions for the profiler tests (built with frame pointers,
 * -O1; a second build without frame pointers checks that short stacks are counted).
 *
 *   profile_target spin [SECONDS]     spin_a does 3x the work of spin_b, in rounds of random
 *                                     length, in one thread
 *   profile_target other [SECONDS]    spin_c only (a different program for attribution tests)
 *   profile_target syscall [SECONDS]  read(2) of 1 MiB from /dev/zero in a loop (kernel time)
 *   profile_target sleep [SECONDS]    block_in_sleep: 2 ms nanosleep in a loop (off-CPU time)
 *   profile_target stacks [SECONDS]   spin_b at the bottom of 1..200 nested descend() calls:
 *                                     about 200 distinct user stacks (map overflow tests)
 *   profile_target chain [SECONDS]    main -> chain_outer -> chain_middle -> chain_leaf, which spins
 *                                     (a known call chain for the unwinding tests)
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

/* The work is inline in each function (not in churn) so samples land in spin_a / spin_b.
 *
 * The tests compare their samples with their work (3:1), so an iteration must cost the same in
 * each of them whatever else the machine runs:
 * - The same machine code at the same cache-line offset (aligned(64); each is < 64 bytes).
 *   Packed one after the other, spin_b's loop straddled a 64-byte line and spin_a's did not:
 *   the samples came out 2.76:1 over 15 s at 999 Hz (sd ~0.05) and 2.5-2.8:1 beside a qemu
 *   guest; aligned, 3.02:1 and 2.8-3.0:1.
 * - Rounds of random length (1..4 units for spin_b, three times that for spin_a), so that a
 *   sampler with a fixed period cannot lock onto a fixed round and see only a few points of it
 *   (not seen here, the timer's jitter has been enough; random rounds make it impossible).
 * - One thread, so how the scheduler shares CPUs between threads does not enter. */
#define SPIN __attribute__((noinline, noipa, aligned(64)))

SPIN void spin_a(long iterations)
{
	uint64_t x = sink;

	for (long i = 0; i < iterations; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

SPIN void spin_b(long iterations)
{
	uint64_t x = sink;

	for (long i = 0; i < iterations; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

SPIN void spin_c(long iterations)
{
	uint64_t x = sink;

	for (long i = 0; i < iterations; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

/* xorshift64: the length of the next spin round; any aperiodic sequence will do. */
static long round_units(void)
{
	static uint64_t state = 0x9e3779b97f4a7c15ULL;

	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return 1 + (long)(state % 4);
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
		spin_b(WORK_UNIT);
	}
}

/* A known chain of callers. No tail calls (the store after each call), so every level keeps
 * its frame also at -O2. */
__attribute__((noinline, noipa)) void chain_leaf(void)
{
	spin_c(10 * WORK_UNIT); /* long enough that the loop around it is a small share */
	sink++;
}

__attribute__((noinline, noipa)) void chain_middle(void)
{
	chain_leaf();
	sink++;
}

__attribute__((noinline, noipa)) void chain_outer(void)
{
	chain_middle();
	sink++;
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
	/* 1 MiB per read: ~45 us of clearing in vfs_read against ~1 us of syscall entry and exit
	 * (a 0-byte read costs 0.7-0.8 us of CPU on the 2-vCPU VM), so the fixed cost of each call
	 * is ~2% of the samples, not the ~23% it was with 64 KiB. */
	static char buf[1 << 20];
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
			const long units = round_units();

			spin_a(3 * units * WORK_UNIT);
			spin_b(units * WORK_UNIT);
		} else if (!strcmp(mode, "chain")) {
			chain_outer();
		} else if (!strcmp(mode, "other")) {
			spin_c(WORK_UNIT);
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

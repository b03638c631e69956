/* A shared library built without frame pointers (-O2 -fomit-frame-pointer), called by
 * profile_lib_main (built with them): the unwinder must join the two kinds of code. */
#include <stdint.h>

volatile uint64_t lib_sink;

__attribute__((noinline, noipa)) void lib_leaf(long iterations)
{
	uint64_t x = lib_sink;

	for (long i = 0; i < iterations; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	lib_sink = x;
}

/* Keeps a frame of its own (no tail call): the store after the call. */
__attribute__((noinline, noipa)) void lib_middle(long iterations)
{
	lib_leaf(iterations);
	lib_sink++;
}

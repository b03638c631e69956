/* Built with frame pointers, calling into libprofile_nofp.so (without them):
 * main -> fp_caller -> lib_middle -> lib_leaf, which spins. Runs SECONDS (default: forever). */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

void lib_middle(long iterations);
volatile uint64_t main_sink;

__attribute__((noinline, noipa)) void fp_caller(void)
{
	lib_middle(100000);
	main_sink++;
}

int main(int argc, char **argv)
{
	const double seconds = argc > 1 ? atof(argv[1]) : 0;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		fp_caller();
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (seconds > 0 && (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
			return 0;
	}
}

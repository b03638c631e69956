// log2 histogram slots, shared by every collector's BPF programs.
// Slot i holds values v with floor(log2(v)) == i; 0 and 1 go to slot 0. Must match
// model::Log2Histogram::bucket_of().
#pragma once

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2_u32(hi) + 32 : log2_u32((__u32)v);
}

// Slot for a value in a histogram of `slots` slots; larger values land in the last slot.
static __always_inline __u32 hist_slot(__u64 v, __u32 slots)
{
	__u64 slot = log2_u64(v);

	// Clamp with a 64-bit compare (barrier_var keeps clang from narrowing it to 32 bits): the
	// verifier of older kernels (Debian 12's 6.1) does not carry a 32-bit bound to the 64-bit
	// array index ("math between map_value pointer and register with unbounded min value").
	barrier_var(slot);
	if (slot >= slots)
		slot = slots - 1;
	return slot;
}

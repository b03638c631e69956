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
	__u32 slot = log2_u64(v);

	return slot < slots ? slot : slots - 1;
}

// The few places where kernel structures drifted, resolved with CO-RE at load time.
#pragma once

#include <bpf/bpf_core_read.h>

// Kernel 5.14 (2f064a59a11f "sched: Change task_struct::state") renamed state to __state.
struct task_struct___pre_5_14 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre_5_14 *)t, state);
}

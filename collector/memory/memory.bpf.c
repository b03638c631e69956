// SPDX-License-Identifier: GPL-2.0
// Memory collector: reclaim stalls, page-cache accesses and misses, and OOM kills per cgroup,
// aggregated in the kernel. Everything fires in the context of the task that stalls or reads,
// so the current task's cgroup is the right one (OOM victims: the victim's cgroup).
//
// Page cache hits and misses, cachestat-style but without kprobes:
//   accessed  = pages a read(2) asks for (filemap_get_pages: the first call of each read; the
//               kernel calls it once per batch with the same range end) + file page faults;
//   read adds = pages added to the cache while a read or fault of the same file was bringing
//               them in (marked per CPU by page_cache_{sync,async}_ra and filemap_fault, which
//               fire just before the adds): misses, readahead included; adds outside a read (new
//               pages of buffered writes) are counted apart, so writers do not look like missing
//               readers.
// Kernels without the readahead tracepoints count every add as a read add. Kernels without
// mm_filemap_get_pages/mm_filemap_fault (before 6.10) get the same counts from fentry/fexit on
// filemap_read() and filemap_fault(), where fentry attaches; those mark the task (task storage)
// for the whole call, which may sleep on I/O and resume on another CPU.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "collector/common/cgroup.bpf.h"
#include "collector/common/log2.bpf.h"
#include "collector/memory/memory.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool key_v1_cpu = false;
const volatile bool have_readahead_events = true; // set by user space before load
const volatile __u32 page_shift = 12;             // set by user space before load

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096); // set by user space before load
	__type(key, __u64);        // cgroup id
	__type(value, struct mem_cgroup_stats);
} cgroup_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mem_task_state);
} task_states SEC(".maps");

// Per CPU: the read(2) or fault in progress here (tracepoint mode). A readahead tracepoint and
// the adds it announces happen in one task on one CPU in a row, so a per-CPU record keyed by
// thread id does what task storage would, without a lookup (or an allocation for every new
// short-lived task). The fentry mode marks a whole filemap_read() call, which can sleep and
// migrate: it marks the task instead.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mem_cpu_read);
} cpu_read SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MEM_DROP_NR);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static const struct mem_cgroup_stats zero_stats;

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

static __always_inline struct mem_cgroup_stats *stats_of(__u64 cg)
{
	struct mem_cgroup_stats *s = bpf_map_lookup_elem(&cgroup_stats, &cg);
	long err;

	if (s)
		return s;
	err = bpf_map_update_elem(&cgroup_stats, &cg, &zero_stats, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU was first */) {
		count_drop(MEM_DROP_STATS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&cgroup_stats, &cg);
}

static __always_inline struct mem_task_state *state_of_current(bool create)
{
	struct mem_task_state *st = bpf_task_storage_get(&task_states, bpf_get_current_task_btf(), 0,
							 create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);

	if (!st && create)
		count_drop(MEM_DROP_TASK_STATE);
	return st;
}

// ---- reclaim stalls -------------------------------------------------------------------

static __always_inline void reclaim_begin(__u32 kind)
{
	struct mem_task_state *st = state_of_current(true);

	if (!st)
		return;
	st->reclaim_start_ns = bpf_ktime_get_ns();
	st->reclaim_kind = kind;
}

static __always_inline void reclaim_end(unsigned long nr_reclaimed)
{
	struct mem_task_state *st = state_of_current(false);
	struct mem_cgroup_stats *s;
	__u64 start, took;

	if (!st || !st->reclaim_start_ns)
		return; // began before we attached
	start = st->reclaim_start_ns;
	st->reclaim_start_ns = 0;
	took = bpf_ktime_get_ns() - start;
	s = stats_of(current_cgroup_id_of(key_v1_cpu));
	if (!s)
		return;
	if (st->reclaim_kind == MEM_RECLAIM_MEMCG) {
		s->memcg_reclaim_ns += took;
		s->memcg_reclaim_count++;
	} else {
		s->direct_reclaim_ns += took;
		s->direct_reclaim_count++;
	}
	s->reclaimed_pages += nr_reclaimed;
	s->reclaim_hist[hist_slot(took, MEM_HIST_SLOTS)]++;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(direct_reclaim_begin)
{
	reclaim_begin(MEM_RECLAIM_DIRECT);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(direct_reclaim_end, unsigned long nr_reclaimed)
{
	reclaim_end(nr_reclaimed);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(memcg_reclaim_begin)
{
	reclaim_begin(MEM_RECLAIM_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(memcg_reclaim_end, unsigned long nr_reclaimed)
{
	reclaim_end(nr_reclaimed);
	return 0;
}

// ---- page cache ---------------------------------------------------------------------

// `folio->flags` is an unsigned long before 6.18 and a memdesc_flags_t wrapping one since
// ("mm: introduce memdesc_flags_t"). CO-RE does not relocate a field whose type changed kind,
// so each layout has its own view; the one the kernel does not have is a dead branch.
struct memdesc_flags___cgs {
	unsigned long f;
};
struct folio___memdesc_flags {
	struct memdesc_flags___cgs flags;
} __attribute__((preserve_access_index));
struct folio___ulong_flags {
	unsigned long flags;
} __attribute__((preserve_access_index));
// Before 6.6 the order of a large folio has a field of its own in the first tail page.
struct folio___order_field {
	unsigned char _folio_order;
} __attribute__((preserve_access_index));

static __always_inline __u64 folio_pages(struct folio *folio)
{
	unsigned long flags = 0, flags_1 = 0;
	int head = bpf_core_enum_value(enum pageflags, PG_head);

	if (bpf_core_field_exists(((struct folio___memdesc_flags *)folio)->flags))
		bpf_core_read(&flags, sizeof(flags), &((struct folio___memdesc_flags *)folio)->flags.f);
	else
		bpf_core_read(&flags, sizeof(flags), &((struct folio___ulong_flags *)folio)->flags);
	if (!(flags & (1UL << head)))
		return 1;
	if (bpf_core_field_exists(((struct folio___order_field *)folio)->_folio_order))
		return 1ULL << (BPF_CORE_READ((struct folio___order_field *)folio, _folio_order) & 63);
	if (!bpf_core_field_exists(folio->_flags_1))
		return 1;
	flags_1 = BPF_CORE_READ(folio, _flags_1);
	return 1ULL << (flags_1 & 0xff); // the folio order lives in the low byte
}

static __always_inline struct mem_cpu_read *cpu_read_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_read, &zero);
}

static __always_inline void mark_reading(struct address_space *mapping)
{
	struct mem_cpu_read *r = cpu_read_state();

	if (!r)
		return;
	r->read_pid = (__u32)bpf_get_current_pid_tgid();
	r->read_mapping = (__u64)mapping;
}

static __always_inline void count_add(struct folio *folio, bool for_read)
{
	struct mem_cgroup_stats *s = stats_of(current_cgroup_id_of(key_v1_cpu));
	__u64 pages;

	if (!s)
		return;
	pages = folio_pages(folio);
	if (for_read)
		s->cache_read_added_pages += pages;
	else
		s->cache_other_added_pages += pages;
}

// Tracepoint mode: the readahead tracepoint marked this CPU just before the adds.
SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(cache_add, struct folio *folio)
{
	struct mem_cpu_read *r;
	bool for_read;

	if (!folio || current_is_kthread()) // arguments may be NULL to the verifier of 6.12
		return 0;
	r = cpu_read_state();
	for_read = !have_readahead_events ||
		   (r && r->read_pid == (__u32)bpf_get_current_pid_tgid() && r->read_mapping &&
		    r->read_mapping == (__u64)folio->mapping);
	count_add(folio, for_read);
	return 0;
}

// fentry mode: the read or fault marked the task for its whole call, which may sleep on I/O and
// wake on another CPU (a per-CPU mark would lose the adds after that).
SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(cache_add_task, struct folio *folio)
{
	struct mem_task_state *st;

	if (!folio || current_is_kthread())
		return 0;
	st = state_of_current(false);
	count_add(folio, st && st->read_mapping && st->read_mapping == (__u64)folio->mapping);
	return 0;
}

SEC("tp_btf/page_cache_sync_ra")
int BPF_PROG(cache_sync_ra, struct inode *inode)
{
	if (inode)
		mark_reading(inode->i_mapping);
	return 0;
}

SEC("tp_btf/page_cache_async_ra")
int BPF_PROG(cache_async_ra, struct inode *inode)
{
	if (inode)
		mark_reading(inode->i_mapping);
	return 0;
}

// A read(2) of `mapping` asking for pages index..last_index: counts the pages it accesses.
static __always_inline void count_read(struct address_space *mapping, unsigned long index,
				       unsigned long last_index)
{
	struct mem_cpu_read *r;
	struct mem_cgroup_stats *s;
	__u64 m = (__u64)mapping, pages, eof_last;
	__u32 pid = (__u32)bpf_get_current_pid_tgid();
	long long size;

	r = cpu_read_state();
	if (!r)
		return;
	if (r->read_pid == pid)
		r->read_mapping = 0; // the batch is in the cache now: later adds are not for it
	if (r->pid == pid && r->seen_mapping == m && r->seen_last == last_index && index > r->seen_index &&
	    index <= last_index) {
		r->seen_index = index; // the next batch of a read already counted
		return;
	}
	r->pid = pid;
	r->seen_mapping = m;
	r->seen_last = last_index;
	r->seen_index = index;
	// The range ends where the read asked, which may be past the end of the file.
	size = mapping->host->i_size; // BTF-typed in both callers: plain loads, no helper call
	if (size <= 0)
		return;
	eof_last = (__u64)(size - 1) >> page_shift;
	if (last_index > eof_last)
		last_index = eof_last;
	if (last_index < index)
		return;
	pages = last_index - index + 1;
	s = stats_of(current_cgroup_id_of(key_v1_cpu));
	if (s)
		s->cache_accessed_pages += pages;
}

// A page fault on a file mapping: one page accessed (what it adds is for the fault: the caller
// marks it).
static __always_inline void count_fault(void)
{
	struct mem_cgroup_stats *s = stats_of(current_cgroup_id_of(key_v1_cpu));

	if (!s)
		return;
	s->cache_accessed_pages++;
	s->file_faults++;
}

SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(cache_get_pages, struct address_space *mapping, unsigned long index,
	     unsigned long last_index)
{
	if (!mapping || current_is_kthread())
		return 0;
	count_read(mapping, index, last_index);
	return 0;
}

SEC("tp_btf/mm_filemap_fault")
int BPF_PROG(cache_fault, struct address_space *mapping, unsigned long index)
{
	if (!mapping || current_is_kthread())
		return 0;
	mark_reading(mapping);
	count_fault();
	return 0;
}

// ---- page cache on kernels without those tracepoints (before 6.10): fentry/fexit on
// filemap_read() and filemap_fault(), the functions that fire them. A read is marked for its
// whole call, so the pages its readahead adds are read adds and nothing else is.

static __always_inline void mark_task_reading(struct address_space *mapping)
{
	struct mem_task_state *st = state_of_current(true);

	if (st)
		st->read_mapping = (__u64)mapping;
}

static __always_inline void unmark_task_reading(void)
{
	struct mem_task_state *st = state_of_current(false);

	if (st)
		st->read_mapping = 0;
}

SEC("fentry/filemap_read")
int BPF_PROG(cache_read_enter, struct kiocb *iocb, struct iov_iter *iter, ssize_t already_read)
{
	struct address_space *mapping;
	__u64 pos, count;

	if (!iocb || !iter || current_is_kthread())
		return 0;
	// fentry arguments are BTF-typed: plain loads (the verifier makes them fault-safe).
	mapping = iocb->ki_filp->f_mapping;
	pos = iocb->ki_pos;
	count = iter->count;
	if (!mapping || !count)
		return 0;
	count_read(mapping, pos >> page_shift, (pos + count - 1) >> page_shift);
	mark_task_reading(mapping);
	return 0;
}

SEC("fexit/filemap_read")
int BPF_PROG(cache_read_exit)
{
	if (!current_is_kthread())
		unmark_task_reading();
	return 0;
}

SEC("fentry/filemap_fault")
int BPF_PROG(cache_fault_enter, struct vm_fault *vmf)
{
	struct address_space *mapping;

	if (!vmf || current_is_kthread())
		return 0;
	mapping = vmf->vma->vm_file->f_mapping;
	if (!mapping)
		return 0;
	mark_task_reading(mapping);
	count_fault();
	return 0;
}

SEC("fexit/filemap_fault")
int BPF_PROG(cache_fault_exit)
{
	if (!current_is_kthread())
		unmark_task_reading();
	return 0;
}

// ---- OOM kills ----------------------------------------------------------------------

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_victim, struct task_struct *task)
{
	if (!task)
		return 0;
	struct mem_cgroup_stats *s = stats_of(task_cgroup_id_of(task, key_v1_cpu));

	if (s)
		s->oom_kills++;
	return 0;
}

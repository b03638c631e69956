// SPDX-License-Identifier: GPL-2.0
// I/O collector: block requests, bytes and latency per (cgroup, disk, op), attributed to the
// cgroup that submitted them, and dirty-page throttling per cgroup; aggregated in the kernel.
//
// Attribution of a request, decided once when it is submitted (block_io_start fires in the
// submitter's context; kernels before 6.5 lack it and fall back to block_rq_issue):
//   1. a task submitted it: that task's cgroup;
//   2. a kernel thread (flusher kworker, jbd2, ...): the cgroup that last dirtied the inode of
//      the request's first page (our own inode -> cgroup map, fed by writeback_dirty_folio in
//      the dirtier's context; works on v1/hybrid hosts too, where the kernel's cgroup
//      writeback does not);
//   3. else the bio's blkcg when it is a non-root cgroup of the v2 hierarchy (the kernel's own
//      cgroup writeback named it);
//   4. else the "kernel" bucket, cgroup id 0: visible, never lost.
// Hot-path rules: requests are remembered in a direct-mapped array indexed by their tag, written
// at submission without being read; stats rows are per-CPU array slots whose index travels with
// the request; where the kernel stamps the issue time itself, the issue program only checks a
// per-CPU flag. Once warm, an I/O does no map update, delete or hash lookup.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "collector/common/cgroup.bpf.h"
#include "collector/common/log2.bpf.h"
#include "collector/io/io.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool key_v1_cpu = false;
const volatile __u64 jiffy_ns = 4000000; // 1e9 / the kernel's HZ, found by user space
volatile __u64 slot_generation; // bumped by user space after it forgets rows

// Stats rows live in a per-CPU array, one slot per (cgroup, disk, op, owner): a lookup the
// verifier inlines. The slot of a row is found through row_slot when a request is submitted
// (cached per CPU) and carried in the in-flight entry to the completion. Free slots come from a
// queue that user space fills at start and refills when cgroups vanish; it bumps
// slot_generation whenever it forgets rows, which invalidates every cached slot.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8192); // set by user space before load
	__type(key, __u32);
	__type(value, struct io_stats);
} row_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); // set by user space before load
	__type(key, struct io_key);
	__type(value, __u32);
} row_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8192); // set by user space before load
	__type(value, __u32);
} free_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct io_last_row);
} last_row SEC(".maps");

// Per CPU: the last queue a request completed on, and whether the kernel stamped that
// request's issue time itself (rq->io_start_time_ns, kept when a blk-stat user such as
// writeback throttling is on). Requests issued to such a queue need no stamp of ours.
struct io_queue_seen {
	__u64 q;
	__u32 stamps;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct io_queue_seen);
} last_queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IO_INFLIGHT_SIZE);
	__type(key, __u32);
	__type(value, struct io_inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU); // per-CPU LRU lists: no shared lock on update
	__uint(max_entries, 65536);             // set by user space before load
	__type(key, struct io_inode_key);
	__type(value, __u64); // cgroup id of the last dirtier
} dirtier SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096); // set by user space before load
	__type(key, __u64);        // cgroup id
	__type(value, struct io_cgroup_stats);
} cgroup_stats SEC(".maps");

// Per CPU: the last inode a task dirtied here and the cgroup recorded for it. Buffered writes
// dirty page after page of one file: only the first page of a run touches the LRU map.
struct io_last_dirty {
	__u64 ino;
	__u64 cgroup_id;
	__u32 dev;
	__u32 pid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct io_last_dirty);
} last_dirty SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IO_DROP_NR);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static const struct io_cgroup_stats zero_cgroup_stats;

// Kernel 5.17 (f3fa33acca9f "block: remove the ->rq_disk field in struct request") moved
// the disk to rq->q->disk.
struct request___pre_5_17 {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1; // per CPU; tracepoint programs do not nest on a CPU
}

// rq is BTF-typed (tp_btf): plain loads, no probe-read helper calls on the hot path.
static __always_inline __u32 disk_dev_of(struct request *rq)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(((struct request_queue *)0)->disk))
		disk = rq->q->disk;
	else
		disk = ((struct request___pre_5_17 *)rq)->rq_disk;
	if (!disk)
		return 0;
	return ((__u32)disk->major << 20) | (__u32)disk->first_minor;
}

static __always_inline __u8 op_of(__u32 cmd_flags)
{
	switch (cmd_flags & 0xff) { // REQ_OP_MASK
	case 0: // REQ_OP_READ
		return IO_OP_READ;
	case 1: // REQ_OP_WRITE
		return IO_OP_WRITE;
	case 2: // REQ_OP_FLUSH
		return IO_OP_FLUSH;
	case 3: // REQ_OP_DISCARD
	case 5: // REQ_OP_SECURE_ERASE
	case 9: // REQ_OP_WRITE_ZEROES
		return IO_OP_DISCARD;
	default:
		return IO_OP_OTHER;
	}
}

// The inode whose page cache a page belongs to; false for anonymous, movable or unmapped pages.
static __always_inline bool inode_of_page(struct page *page, struct io_inode_key *key)
{
	unsigned long head = BPF_CORE_READ(page, compound_head);
	unsigned long mapping;
	struct inode *host;

	if (head & 1) // a tail page: the folio's head holds the mapping
		page = (struct page *)(head - 1);
	mapping = (unsigned long)BPF_CORE_READ(page, mapping);
	if (!mapping || (mapping & 3)) // PAGE_MAPPING_ANON / PAGE_MAPPING_MOVABLE
		return false;
	host = BPF_CORE_READ((struct address_space *)mapping, host);
	if (!host)
		return false;
	key->ino = BPF_CORE_READ(host, i_ino);
	key->dev = BPF_CORE_READ(host, i_sb, s_dev);
	return true;
}

// Who to charge for a request submitted now, and how that was decided.
static __always_inline __u64 owner_of(struct request *rq, __u8 *owner)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct io_inode_key ikey = {};
	struct bio *bio;
	struct page *page;

	if (!(t->flags & CGSCOPE_PF_KTHREAD)) {
		*owner = IO_OWNER_TASK;
		// BTF-typed: plain loads instead of a helper call.
		return key_v1_cpu ? task_cgroup_id_of(t, true) : t->cgroups->dfl_cgrp->kn->id;
	}
	bio = rq->bio;
	if (bio) {
		page = BPF_CORE_READ(bio, bi_io_vec, bv_page);
		if (page && inode_of_page(page, &ikey)) {
			__u64 *cg = bpf_map_lookup_elem(&dirtier, &ikey);

			if (cg) {
				*owner = IO_OWNER_DIRTIER;
				return *cg;
			}
		}
		if (!key_v1_cpu && bpf_core_field_exists(bio->bi_blkg)) {
			struct cgroup *cg = BPF_CORE_READ(bio, bi_blkg, blkcg, css.cgroup);

			if (cg && BPF_CORE_READ(cg, level) > 0 &&
			    BPF_CORE_READ(cg, root) == BPF_CORE_READ(t, cgroups, dfl_cgrp, root)) {
				*owner = IO_OWNER_BLKCG;
				return BPF_CORE_READ(cg, kn, id);
			}
		}
	}
	*owner = IO_OWNER_KERNEL;
	return 0;
}

static __always_inline bool same_key(const struct io_key *a, const struct io_key *b)
{
	return a->cgroup_id == b->cgroup_id && a->dev == b->dev && a->op == b->op && a->owner == b->owner;
}

// Stats slot of a row, allocating one on first sight.
static __always_inline int row_slot_of(const struct io_key *key, __u32 *slot)
{
	__u32 zero = 0, fresh;
	__u64 generation = slot_generation; // read before the lookup: a forget after it invalidates
	struct io_last_row *last = bpf_map_lookup_elem(&last_row, &zero);
	__u32 *found;

	if (last && last->generation == generation && same_key(&last->key, key)) {
		*slot = last->slot;
		return 0;
	}
	found = bpf_map_lookup_elem(&row_slot, key);
	if (found) {
		fresh = *found;
	} else {
		if (bpf_map_pop_elem(&free_slots, &fresh)) {
			count_drop(IO_DROP_STATS_FULL);
			return -1;
		}
		if (bpf_map_update_elem(&row_slot, key, &fresh, BPF_NOEXIST)) {
			// Another CPU got there first (or the map is full): give ours back.
			bpf_map_push_elem(&free_slots, &fresh, 0);
			found = bpf_map_lookup_elem(&row_slot, key);
			if (!found) {
				count_drop(IO_DROP_STATS_FULL);
				return -1;
			}
			fresh = *found;
		}
	}
	if (last) {
		last->key = *key;
		last->slot = fresh;
		last->generation = generation;
	}
	*slot = fresh;
	return 0;
}

// Table index of a request: its tag within its queue and hardware context. A tag is unique
// among the requests in flight on one (queue, hw context) — the scheduler's tag with an I/O
// scheduler (taken at allocation), the driver's without — so requests in flight together get
// distinct entries unless two busy (queue, hw context) pairs hash to the same block of 1024.
static __always_inline __u32 inflight_index(struct request *rq)
{
	int tag = rq->internal_tag >= 0 ? rq->internal_tag : rq->tag;
	__u32 block = ((__u32)rq->q->id * 2654435761u) ^ ((__u32)rq->mq_hctx->queue_num * 40503u);

	return ((block << 10) | ((__u32)tag & 1023)) & (IO_INFLIGHT_SIZE - 1);
}

// The request's address as a number (the verifier allows no arithmetic on a BTF pointer, but a
// privileged program may store and compare it).
static __always_inline __u64 rq_key(struct request *rq)
{
	return (__u64)rq;
}

// The entry of a request, if it is this request's.
static __always_inline struct io_inflight *inflight_of(struct request *rq)
{
	__u32 idx = inflight_index(rq);
	struct io_inflight *f = bpf_map_lookup_elem(&inflight, &idx);

	return f && f->rq == rq_key(rq) ? f : NULL;
}

// Remembers a request at submission (or at issue, when it was not seen submitted). The entry is
// only written, never read here: its cache line was last written by the CPU that completed the
// previous request of this tag, and a read would wait for it (a store does not).
static __always_inline void remember(struct request *rq, __u64 submit_ns, __u64 issue_ns)
{
	__u32 idx = inflight_index(rq);
	struct io_inflight *f = bpf_map_lookup_elem(&inflight, &idx);
	struct io_key row = {};
	__u8 owner;
	__u32 slot = 0;
	bool valid;

	row.cgroup_id = owner_of(rq, &owner);
	row.owner = owner;
	row.dev = disk_dev_of(rq);
	row.op = op_of(rq->cmd_flags);
	valid = row_slot_of(&row, &slot) == 0;
	if (!f)
		return;
	f->rq = rq_key(rq);
	f->submit_ns = submit_ns;
	f->issue_ns = issue_ns;
	f->slot = slot;
	f->slot_valid = valid;
}

// When the request was queued: the kernel's own stamp (taken at allocation when I/O statistics
// are on), else now.
static __always_inline __u64 queued_ns(struct request *rq)
{
	__u64 t = rq->start_time_ns;

	return t ? t : bpf_ktime_get_ns();
}

// A request handed to an I/O scheduler, in the submitter's context. Without a scheduler a
// request is issued by the task that submitted it (directly, or when its plug is flushed):
// block_rq_issue sees the same context and does the work. With one, dispatch may run in
// another task's or a kworker's context: decide now.
static __always_inline void submitted(struct request *rq)
{
	if (!rq->q->elevator)
		return;
	remember(rq, queued_ns(rq), 0);
}

SEC("tp_btf/block_io_start")
int BPF_PROG(io_start, struct request *rq)
{
	if (!rq) // tracepoint arguments may be NULL to the verifier of some kernels (6.12)
		return 0;
	submitted(rq);
	return 0;
}

// Kernels before 6.5 (no block_io_start): the insertion into the scheduler's queue, which for
// a scheduled request follows its allocation in the same task (at once, or when the task's
// plug is flushed). A request requeued by the driver is inserted again from a kworker: its
// first owner stays (remember() overwrites only entries of other requests).
SEC("tp_btf/block_rq_insert")
int BPF_PROG(io_insert, struct request *rq)
{
	if (!rq)
		return 0;
	if (inflight_of(rq)) // already remembered (a requeue): keep its owner and queue stamp
		return 0;
	submitted(rq);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(io_issue, struct request *rq)
{
	__u32 zero = 0;

	if (!rq)
		return 0;
	struct io_queue_seen *seen = bpf_map_lookup_elem(&last_queue, &zero);
	struct request_queue *q = rq->q;

	// Remembered at submission, to a queue where the kernel stamps the issue time: done.
	if (seen && seen->stamps && seen->q == (__u64)q && q->elevator)
		return 0;
	struct io_inflight *f = inflight_of(rq);
	__u64 now = bpf_ktime_get_ns();

	if (f && (f->submit_ns || f->issue_ns)) { // seen at submission, or requeued and issued again
		f->issue_ns = now;
		return 0;
	}
	// First sight at issue: no I/O scheduler (the issuer is the submitter), a flush or
	// passthrough request, or a kernel without block_io_start.
	remember(rq, rq->start_time_ns, now);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(io_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	if (!rq)
		return 0;
	struct io_inflight *f = inflight_of(rq);
	__u64 now = bpf_ktime_get_ns();
	__u64 kernel_issue = rq->io_start_time_ns; // 0 unless the kernel stamped this request
	struct io_stats *s;
	__u32 slot, zero = 0;
	struct io_queue_seen *seen = bpf_map_lookup_elem(&last_queue, &zero);

	if (seen) {
		seen->q = (__u64)rq->q;
		seen->stamps = kernel_issue != 0;
	}
	if (!f || (!f->issue_ns && !(kernel_issue && f->submit_ns))) {
		count_drop(IO_DROP_UNTRACKED_DONE);
		return 0;
	}
	if (kernel_issue)
		f->issue_ns = kernel_issue; // the same clock (ktime_get_ns) as ours
	// A request can complete in pieces; the last piece covers what is left of it.
	bool last = nr_bytes >= rq->__data_len;

	slot = f->slot;
	s = f->slot_valid ? bpf_map_lookup_elem(&row_stats, &slot) : NULL;
	if (s) {
		s->bytes += nr_bytes;
		if (last) {
			__u64 latency = now > f->issue_ns ? now - f->issue_ns : 0;

			s->requests++;
			if (error)
				s->errors++;
			s->latency_ns_sum += latency;
			s->latency_hist[hist_slot(latency, IO_HIST_SLOTS)]++;
			if (f->submit_ns) {
				__u64 queued = f->issue_ns > f->submit_ns ? f->issue_ns - f->submit_ns : 0;

				s->queued++;
				s->queue_ns_sum += queued;
				s->queue_hist[hist_slot(queued, IO_HIST_SLOTS)]++;
			}
		}
	}
	if (last) // done: a completion of another request with this tag must not match it
		f->rq = 0;
	return 0;
}

// A page of an inode was dirtied, in the dirtier's context: remember who, for the writeback
// that kernel threads will submit later.
SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(dirty_folio, struct folio *folio, struct address_space *mapping)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct io_inode_key ikey = {};
	struct inode *host;
	__u64 cg, *seen;

	if (!mapping || (t->flags & CGSCOPE_PF_KTHREAD))
		return 0;
	host = mapping->host;
	if (!host)
		return 0;
	ikey.ino = host->i_ino;
	ikey.dev = host->i_sb->s_dev;
	cg = current_cgroup_id_of(key_v1_cpu);
	__u32 zero = 0;
	struct io_last_dirty *last = bpf_map_lookup_elem(&last_dirty, &zero);

	if (last) {
		if (last->pid == t->pid && last->ino == ikey.ino && last->dev == ikey.dev && last->cgroup_id == cg)
			return 0; // same task, same inode, same cgroup as its previous page: known
		last->pid = t->pid;
		last->ino = ikey.ino;
		last->dev = ikey.dev;
		last->cgroup_id = cg;
	}
	seen = bpf_map_lookup_elem(&dirtier, &ikey);
	if (seen) {
		if (*seen != cg)
			*seen = cg;
		return 0;
	}
	bpf_map_update_elem(&dirtier, &ikey, &cg, BPF_ANY);
	return 0;
}

// balance_dirty_pages() is about to make the current task sleep `pause` jiffies so that
// writeback catches up with its dirtying (or not sleep, when pause <= 0).
SEC("tp_btf/balance_dirty_pages")
int BPF_PROG(dirty_throttle, struct bdi_writeback *wb, struct dirty_throttle_control *dtc,
	     unsigned long dirty_ratelimit, unsigned long task_ratelimit, unsigned long dirtied,
	     unsigned long period, long pause, unsigned long start_time)
{
	__u64 cg = current_cgroup_id_of(key_v1_cpu);
	struct io_cgroup_stats *s;

	if (pause <= 0)
		return 0;
	s = bpf_map_lookup_elem(&cgroup_stats, &cg);
	if (!s) {
		bpf_map_update_elem(&cgroup_stats, &cg, &zero_cgroup_stats, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&cgroup_stats, &cg);
		if (!s) {
			count_drop(IO_DROP_STATS_FULL);
			return 0;
		}
	}
	s->dirty_throttle_count++;
	s->dirty_throttle_ns += (__u64)pause * jiffy_ns;
	return 0;
}

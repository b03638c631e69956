// SPDX-License-Identifier: GPL-2.0
// NFS client stalls per cgroup and NFS mount, from the NFS client's own tracepoints (module
// tracepoints of nfs, nfsv4 and sunrpc, BTF-typed). The task that waits is the current task
// of every enter/exit pair; RPCs started by kernel threads (writeback) are charged to the
// cgroup that dirtied the inode's pages. Cached negative dentries have no tracepoint: their
// programs attach to the return of the NFS dentry revalidation functions (fexit, or kretprobe
// on kernels without fexit), in groups that may be left out.
//
// Cost: the arguments of tp_btf and fexit programs are BTF-typed, so their fields (and the
// fields of the structs they point to) are read with plain loads, which the verifier turns
// into fault-safe loads without a helper call. bpf_probe_read_kernel is left for what BTF
// cannot type: the nfs_inode around a VFS inode, the nfs_server behind s_fs_info, names, and
// pointers a kprobe program got from a map.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "../common/cgroup.bpf.h"
#include "../common/log2.bpf.h"
#include "nfs.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool key_v1_cpu = false;
// Cached negative dentries from nfs_lookup_revalidate_exit (kernels whose
// nfs_lookup_revalidate_done fires it for every revalidation, 6.1 at least) instead of the
// negative_dentries programs (fexit or kprobe); set by user space.
const volatile bool neg_from_tp = false;

// Lookup revalidations between their enter and exit events, on all CPUs. Only revalidations
// that ask the server fire the enter event; the exit fires for every one (cache hits
// included), and while this is 0 it has no start to look for in task storage.
__u64 reval_in_flight = 0;

// NFS and sunrpc types live in module BTF; these local views are relocated against it (CO-RE
// matches "nfs_server___cgs" to "nfs_server").
struct nfs_fsid___cgs {
	__u64 major;
	__u64 minor;
} __attribute__((preserve_access_index));

struct nfs_server___cgs {
	struct nfs_fsid___cgs fsid;
} __attribute__((preserve_access_index));

struct nfs_pgio_args___cgs {
	__u32 count;
} __attribute__((preserve_access_index));

struct nfs_pgio_res___cgs {
	__u64 count;
} __attribute__((preserve_access_index));

struct nfs_pgio_header___cgs {
	struct inode *inode;
	struct nfs_pgio_args___cgs args;
	struct nfs_pgio_res___cgs res;
} __attribute__((preserve_access_index));

struct nfs_commit_data___cgs {
	struct inode *inode;
} __attribute__((preserve_access_index));

struct rpc_procinfo___cgs {
	const char *p_name;
} __attribute__((preserve_access_index));

struct rpc_message___cgs {
	const struct rpc_procinfo___cgs *rpc_proc;
} __attribute__((preserve_access_index));

struct rpc_clnt___cgs {
	__u32 cl_prog;
	__u32 cl_vers;
} __attribute__((preserve_access_index));

#define RPC_TASK_ASYNC 0x0001

struct rpc_task___cgs {
	int tk_status;
	unsigned short tk_flags;
	struct rpc_message___cgs tk_msg;
	struct rpc_clnt___cgs *tk_client;
} __attribute__((preserve_access_index));

struct rpc_rqst___cgs {
	struct rpc_task___cgs *rq_task;
} __attribute__((preserve_access_index));

struct nfs_open_context___cgs {
	struct dentry *dentry;
} __attribute__((preserve_access_index));

#define NFS_SUPER_MAGIC 0x6969
#define CGS_O_CREAT 0100

// Per CPU: plain adds, no atomics on the hot path; user space sums the CPUs.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024); // set by user space
	__type(key, struct nfs_cg_key);
	__type(value, struct nfs_cg_stats);
} stats SEC(".maps");

// Starts of the operations a task is in (ops nest: getattr holds a revalidation), in task
// storage: no hashing, no allocation per operation.
struct task_ops {
	__u64 start_ns[NFS_OP_NR];
	__u64 pages; // invalidate: pages in the mapping at the start
};
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ops);
} task_ops SEC(".maps");

// READ/WRITE/COMMIT RPCs in flight, by header pointer.
struct pgio_val {
	__u64 start_ns;
	__u64 cgroup_id;
	__u64 fileid;
	struct nfs_sb_id sb;
	__u32 op;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct pgio_val);
} pgio SEC(".maps");

// Inode -> cgroup that last dirtied its pages (for writeback RPCs started by kernel threads).
// LRU: an old inode's hint may be evicted, its later writeback is then charged to the kernel
// thread's cgroup.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} dirtier SEC(".maps");

// rpc_task -> cgroup that started it. Read and deleted by rpc_stats_latency, which the kernel
// fires after rpc_task_end (at the release of the request); tasks that never send a request
// leave their entry behind, so LRU: the oldest leftovers go first.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} rpc_owner SEC(".maps");

// The cgroup an NFS read/write/commit about to start an RPC on this CPU is charged to.
struct rpc_hint_val {
	__u64 cgroup_id;
	__u32 tid;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rpc_hint_val);
} rpc_hint SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct nfs_rpc_key);
	__type(value, struct nfs_rpc_stats);
} rpc_stats SEC(".maps");

// Procedure (the kernel's rpc_procinfo, a static table entry) -> program, version, name:
// read once per procedure instead of a string per RPC.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct nfs_rpc_proc);
} rpc_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); // set by user space (--nfs-max-files)
	__type(key, struct nfs_file_key);
	__type(value, struct nfs_file);
} files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct nfs_name_key);
	__type(value, struct nfs_creation);
} creations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct nfs_stale_key);
	__type(value, struct nfs_stale);
} stale_names SEC(".maps");

// The dentry of a revalidation in progress (kprobe fallback: the return probe lacks the args).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} reval_dentry SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NFS_DROP_NR);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static const struct nfs_cg_stats zero_stats;
static const struct nfs_file zero_file;
static const struct nfs_rpc_stats zero_rpc;

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

// The superblock of an inode (see struct nfs_sb_id). inode: a BTF-typed pointer (a program
// argument or a field loaded from one): plain loads down the chain.
static __always_inline struct nfs_sb_id inode_sb(const struct inode *inode)
{
	const struct super_block *sb = inode->i_sb;
	struct nfs_sb_id id = {
		.dev = sb->s_dev,
		.instance = (__u32)sb->s_bdi->dev->kobj.sd->id,
	};

	return id;
}

// inode: any kernel pointer (e.g. from a map, in kprobe programs).
static __always_inline struct nfs_sb_id inode_sb_probed(const struct inode *inode)
{
	const struct super_block *sb = BPF_CORE_READ(inode, i_sb);
	const struct backing_dev_info *bdi = BPF_CORE_READ(sb, s_bdi);
	const struct kernfs_node *kn = BPF_CORE_READ(bdi, dev, kobj.sd);
	struct nfs_sb_id id = {
		.dev = BPF_CORE_READ(sb, s_dev),
		.instance = (__u32)BPF_CORE_READ(kn, id),
	};

	return id;
}

// The NFS fileid: the NFS client sets i_ino to it (nfs_fileid_to_ino_t folds it only where
// ino_t is narrower than 64 bits, which BPF's 64-bit targets are not). A plain load, where the
// nfs_inode around the VFS inode would take a probe read.
static __always_inline __u64 inode_fileid(const struct inode *inode)
{
	return inode->i_ino;
}

static __always_inline __u64 inode_fileid_probed(const struct inode *inode)
{
	return BPF_CORE_READ(inode, i_ino);
}

static __always_inline struct nfs_cg_stats *stats_of(__u64 cgroup_id, struct nfs_sb_id sb)
{
	struct nfs_cg_key key = { .cgroup_id = cgroup_id, .sb = sb };
	struct nfs_cg_stats *s = bpf_map_lookup_elem(&stats, &key);

	if (s)
		return s;
	if (bpf_map_update_elem(&stats, &key, &zero_stats, BPF_NOEXIST) && 0)
		return NULL;
	s = bpf_map_lookup_elem(&stats, &key);
	if (!s)
		count_drop(NFS_DROP_STATS_FULL);
	return s;
}

static __always_inline __u32 err_class(int error)
{
	switch (-error) {
	case 2:
		return NFS_ERR_ENOENT;
	case 116:
		return NFS_ERR_ESTALE;
	case 5:
		return NFS_ERR_EIO;
	case 13:
		return NFS_ERR_EACCES;
	case 16:
		return NFS_ERR_EBUSY;
	}
	return NFS_ERR_OTHER;
}

static __always_inline void charge_op(struct nfs_cg_stats *s, __u32 op, __u64 ns, int error)
{
	if (op >= NFS_OP_NR)
		return;
	struct nfs_op_stats *o = &s->ops[op];

	o->count += 1;
	o->time_ns += ns;
	o->hist[hist_slot(ns, NFS_HIST_SLOTS)] += 1;
	if (error < 0)
		o->errors[err_class(error)] += 1;
}

// The cgroup a kernel thread's work on `inode` is charged to: the inode's last dirtier.
static __always_inline __u64 cause_cgroup(const struct inode *inode)
{
	__u64 cgid = current_cgroup_id_of(key_v1_cpu);

	if (inode && current_is_kthread()) {
		__u64 key = (__u64)inode;
		__u64 *d = bpf_map_lookup_elem(&dirtier, &key);

		if (d)
			return *d;
	}
	return cgid;
}

// Which export a superblock shows: the server's fsid, the same on every client. server: the
// superblock's s_fs_info (untyped, so one probe read for both halves of the fsid).
static __always_inline __u32 export_id_of_server(const struct nfs_server___cgs *server)
{
	struct nfs_fsid___cgs fsid = {};

	bpf_core_read(&fsid, sizeof(fsid), &server->fsid);
	__u64 h = (fsid.major * 0x9E3779B97F4A7C15ull) ^ (fsid.minor + 0x632BE59BD9B4E019ull);

	return (__u32)(h ^ (h >> 32));
}

// inode: BTF-typed (see inode_sb).
static __always_inline __u32 export_id_of(const struct inode *inode)
{
	return export_id_of_server(inode->i_sb->s_fs_info);
}

static __always_inline __u32 export_id_of_probed(const struct inode *inode)
{
	return export_id_of_server(BPF_CORE_READ(inode, i_sb, s_fs_info));
}

// ---- per-file sharing ----

enum file_event { FILE_DIRTY, FILE_WRITTEN, FILE_READ, FILE_REVALIDATE, FILE_INVALIDATE };

// Bit hash(fileid) is set when a file with that fileid enters the files map (entries are never
// deleted while attached). A read or revalidation of a file whose bit is clear has nothing to
// be counted for and skips building the key (a probe read of the fsid) and the lookup: most
// files are only ever read. Keyed by the fileid alone, which is the same on every client of an
// export (the inode is not: B's reads of a file A wrote must find it); another export's file
// of the same bit only costs a lookup.
#define FILE_BITS_WORDS 1024 // 65536 bits, 8 KiB; with --nfs-max-files 4096 at most 1/16 set
__u64 file_bits[FILE_BITS_WORDS];

static __always_inline __u32 file_bit(__u64 fileid)
{
	return (__u32)((fileid * 0x9E3779B97F4A7C15ull) >> 48); // 16 bits
}

// inode: BTF-typed (see inode_sb).
static __always_inline void file_event(__u64 cgroup_id, const struct inode *inode, __u32 what, __u64 n)
{
	bool write = what == FILE_DIRTY || what == FILE_WRITTEN;
	__u64 fileid = inode_fileid(inode);
	__u32 bit = file_bit(fileid);
	__u64 *word = &file_bits[(bit >> 6) & (FILE_BITS_WORDS - 1)];
	__u64 mask = 1ull << (bit & 63);

	if (!write && !(*word & mask))
		return;
	struct nfs_file_key key = { .export_id = export_id_of(inode), .fileid = fileid };
	struct nfs_file *f = bpf_map_lookup_elem(&files, &key);

	if (!f) {
		// A file enters the map when a cgroup writes it: a shared-writer hazard needs a
		// writer, and most files are only ever read (the stat/open of every lookup would
		// otherwise fill the map and cost an entry each). Reads and revalidations count
		// from the first write seen on.
		if (!write)
			return;
		__sync_fetch_and_or(word, mask); // before the entry: no read of it can miss the bit
		bpf_map_update_elem(&files, &key, &zero_file, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&files, &key);
		if (!f) {
			count_drop(NFS_DROP_FILES_FULL);
			return;
		}
	}
	struct nfs_file_cgroup *c = NULL;

	for (int i = 0; i < NFS_FILE_CGROUPS; i++) {
		if (f->cg[i].cgroup_id == cgroup_id) {
			c = &f->cg[i];
			break;
		}
		if (f->cg[i].cgroup_id == 0) {
			// Claim the free entry; another CPU may claim it first for another cgroup.
			if (__sync_val_compare_and_swap(&f->cg[i].cgroup_id, 0, cgroup_id) == 0 ||
			    f->cg[i].cgroup_id == cgroup_id) {
				c = &f->cg[i];
				break;
			}
		}
	}
	if (!c) {
		__sync_fetch_and_add(&f->overflow, 1);
		return;
	}
	c->sb = inode_sb(inode);
	switch (what) {
	case FILE_DIRTY:
		__sync_fetch_and_add(&c->dirtied_pages, n);
		break;
	case FILE_WRITTEN:
		__sync_fetch_and_add(&c->written_bytes, n);
		break;
	case FILE_READ:
		__sync_fetch_and_add(&c->reads, 1);
		break;
	case FILE_REVALIDATE:
		__sync_fetch_and_add(&c->revalidations, 1);
		break;
	case FILE_INVALIDATE:
		__sync_fetch_and_add(&c->invalidations, 1);
		break;
	}
}

// ---- enter/exit pairs of the task that waits ----

static __always_inline struct task_ops *ops_of_current(bool create)
{
	return bpf_task_storage_get(&task_ops, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

// Returns whether the start was recorded.
static __always_inline bool start_op(__u32 op, const struct inode *inode, bool pages)
{
	struct task_ops *t = ops_of_current(true);

	if (!t) {
		count_drop(NFS_DROP_START_FULL);
		return false;
	}
	if (op >= NFS_OP_NR)
		return false;
	t->start_ns[op] = bpf_ktime_get_ns();
	if (pages)
		t->pages = inode->i_mapping->nrpages;
	return true;
}

// ns since start_op(op) of the current task (0: it began before attach); *pages: see start_op.
static __always_inline __u64 end_op(__u32 op, __u64 *pages, bool *in_getattr)
{
	struct task_ops *t = ops_of_current(false);
	__u64 start;

	if (!t || op >= NFS_OP_NR)
		return 0;
	start = t->start_ns[op];
	if (!start)
		return 0;
	t->start_ns[op] = 0;
	if (pages)
		*pages = t->pages;
	if (in_getattr)
		*in_getattr = t->start_ns[NFS_OP_GETATTR] != 0;
	return bpf_ktime_get_ns() - start;
}

static __always_inline void op_enter(__u32 op, const struct inode *inode, bool pages)
{
	start_op(op, inode, pages);
}

static __always_inline void op_exit(__u32 op, const struct inode *inode, int error)
{
	__u64 pages = 0;
	bool nested_in_getattr = false;
	__u64 ns = end_op(op, &pages, &nested_in_getattr);

	if (!ns)
		return; // began before attach
	__u64 cgid = current_cgroup_id_of(key_v1_cpu);
	struct nfs_cg_stats *s = stats_of(cgid, inode_sb(inode));

	if (!s)
		return;
	charge_op(s, op, ns, error);
	switch (op) {
	case NFS_OP_INVALIDATE:
		s->invalidated_pages += pages;
		file_event(cgid, inode, FILE_INVALIDATE, 1);
		break;
	case NFS_OP_REVALIDATE:
		// Inside a getattr (stat), the getattr's exit records the file: once per call.
		if (nested_in_getattr)
			break;
		file_event(cgid, inode, FILE_REVALIDATE, 1);
		break;
	case NFS_OP_GETATTR:
		file_event(cgid, inode, FILE_REVALIDATE, 1);
		break;
	}
}

#define ENTER_EXIT(name, op, pages)                                                     \
	SEC("tp_btf/" #name "_enter")                                                   \
	int BPF_PROG(name##_enter, const struct inode *inode)                            \
	{                                                                               \
		if (inode) /* the verifier of 6.12 takes every argument as maybe NULL */ \
			op_enter(op, inode, pages);                                     \
		return 0;                                                               \
	}                                                                               \
	SEC("tp_btf/" #name "_exit")                                                    \
	int BPF_PROG(name##_exit, const struct inode *inode, int error)                  \
	{                                                                               \
		if (inode)                                                              \
			op_exit(op, inode, error);                                      \
		return 0;                                                               \
	}

ENTER_EXIT(nfs_revalidate_inode, NFS_OP_REVALIDATE, false)
ENTER_EXIT(nfs_getattr, NFS_OP_GETATTR, false)
ENTER_EXIT(nfs_invalidate_mapping, NFS_OP_INVALIDATE, true)
ENTER_EXIT(nfs_fsync, NFS_OP_FSYNC, false)
ENTER_EXIT(nfs_writeback_inode, NFS_OP_FLUSH, false)
ENTER_EXIT(nfs_setattr, NFS_OP_SETATTR, false)

SEC("tp_btf/nfs_access_enter")
int BPF_PROG(nfs_access_enter, const struct inode *inode)
{
	if (inode)
		op_enter(NFS_OP_ACCESS, inode, false);
	return 0;
}

SEC("tp_btf/nfs_access_exit")
int BPF_PROG(nfs_access_exit, const struct inode *inode, unsigned int mask, unsigned int permitted, int error)
{
	if (inode)
		op_exit(NFS_OP_ACCESS, inode, error);
	return 0;
}

// ---- names: lookups, creations, removals ----

// FNV-1a of a dentry's name, so that two clients (two dentry caches) agree on it.
static __always_inline __u32 name_hash(const struct dentry *dentry)
{
	char name[NFS_NAME_MAX];
	__u32 h = 2166136261u;
	const unsigned char *p = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(name, sizeof(name), p);

	if (n <= 0)
		return 0;
	for (int i = 0; i < NFS_NAME_MAX; i++) {
		if (i >= n - 1)
			break;
		h ^= (unsigned char)name[i];
		h *= 16777619u;
	}
	return h;
}

// dir, dentry: any kernel pointers (names are rare events: created, removed, negative).
static __always_inline void name_key(struct nfs_name_key *key, const struct inode *dir, const struct dentry *dentry)
{
	key->dir_fileid = inode_fileid_probed(dir);
	key->export_id = export_id_of_probed(dir);
	key->name_hash = name_hash(dentry);
}

static __always_inline void created(const struct inode *dir, const struct dentry *dentry)
{
	struct nfs_name_key key = {};
	struct nfs_creation *c;

	if (!dir || !dentry) // tracepoint arguments, maybe NULL to the verifier of 6.12
		return;
	name_key(&key, dir, dentry);
	c = bpf_map_lookup_elem(&creations, &key);
	if (!c) {
		struct nfs_creation fresh = {};

		bpf_map_update_elem(&creations, &key, &fresh, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&creations, &key);
		if (!c) {
			count_drop(NFS_DROP_NAMES_FULL);
			return;
		}
	}
	c->cgroup_id = current_cgroup_id_of(key_v1_cpu);
	c->last_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&c->count, 1);
}

static __always_inline void removed(const struct inode *dir, const struct dentry *dentry)
{
	struct nfs_name_key key = {};

	if (!dir || !dentry)
		return;
	name_key(&key, dir, dentry);
	bpf_map_delete_elem(&creations, &key);
}

static __always_inline void dir_op_enter(__u32 op)
{
	start_op(op, NULL, false);
}

static __always_inline struct nfs_cg_stats *charge_dir_op(__u32 op, const struct inode *dir, __u64 ns, int error)
{
	if (!dir)
		return NULL;
	struct nfs_cg_stats *s = stats_of(current_cgroup_id_of(key_v1_cpu), inode_sb(dir));

	if (s)
		charge_op(s, op, ns, error);
	return s;
}

// Charges a directory operation; returns the stats (NULL when not charged).
static __always_inline struct nfs_cg_stats *dir_op_exit(__u32 op, const struct inode *dir, int error)
{
	__u64 ns = end_op(op, NULL, NULL);

	return ns ? charge_dir_op(op, dir, ns, error) : NULL;
}

#define DIR_ENTER(tp, op)                                                          \
	SEC("tp_btf/" #tp "_enter")                                                \
	int BPF_PROG(tp##_enter)                                                   \
	{                                                                          \
		dir_op_enter(op);                                                  \
		return 0;                                                          \
	}

DIR_ENTER(nfs_lookup, NFS_OP_LOOKUP)
DIR_ENTER(nfs_atomic_open, NFS_OP_OPEN)
DIR_ENTER(nfs_create, NFS_OP_CREATE)
DIR_ENTER(nfs_mkdir, NFS_OP_CREATE)
DIR_ENTER(nfs_unlink, NFS_OP_REMOVE)
DIR_ENTER(nfs_rmdir, NFS_OP_REMOVE)
DIR_ENTER(nfs_rename, NFS_OP_RENAME)

SEC("tp_btf/nfs_lookup_exit")
int BPF_PROG(nfs_lookup_exit, const struct inode *dir, const struct dentry *dentry, unsigned int flags, int error)
{
	struct nfs_cg_stats *s = dir_op_exit(NFS_OP_LOOKUP, dir, error);

	// A miss is not an error here (the dentry is made negative): count it as what it is.
	if (s && error == 0 && dentry && !dentry->d_inode)
		s->lookup_negative += 1;
	return 0;
}

static __always_inline void negative_revalidated(struct dentry *dentry, long ret);

SEC("tp_btf/nfs_lookup_revalidate_enter")
int BPF_PROG(nfs_lookup_revalidate_enter)
{
	if (start_op(NFS_OP_LOOKUP_REVALIDATE, NULL, false))
		__sync_fetch_and_add(&reval_in_flight, 1);
	return 0;
}

// error: 1 the dentry is valid (for a negative one: the cached ENOENT is trusted), 0 it is
// looked up again, < 0 an error (-ECHILD: retried outside RCU walk).
SEC("tp_btf/nfs_lookup_revalidate_exit")
int BPF_PROG(nfs_lookup_revalidate_exit, const struct inode *dir, const struct dentry *dentry, unsigned int flags,
	     int error)
{
	if (reval_in_flight) {
		__u64 ns = end_op(NFS_OP_LOOKUP_REVALIDATE, NULL, NULL);

		if (ns) {
			__sync_fetch_and_add(&reval_in_flight, -1);
			charge_dir_op(NFS_OP_LOOKUP_REVALIDATE, dir, ns, error);
		}
	}
	if (neg_from_tp && dentry && !dentry->d_inode)
		negative_revalidated((struct dentry *)dentry, error);
	return 0;
}

SEC("tp_btf/nfs_atomic_open_exit")
int BPF_PROG(nfs_atomic_open_exit, const struct inode *dir, const struct nfs_open_context___cgs *octx,
	     unsigned int flags, int error)
{
	struct nfs_cg_stats *s = dir_op_exit(NFS_OP_OPEN, dir, error);

	if (!s || !octx)
		return 0;
	struct dentry *dentry = octx->dentry;

	if (!dentry)
		return 0;
	if (error == 0) {
		struct inode *inode = dentry->d_inode;

		if (inode)
			file_event(current_cgroup_id_of(key_v1_cpu), inode, FILE_REVALIDATE, 1);
		if (flags & CGS_O_CREAT)
			created(dir, dentry);
	}
	return 0;
}

SEC("tp_btf/nfs_create_exit")
int BPF_PROG(nfs_create_exit, const struct inode *dir, const struct dentry *dentry, unsigned int flags, int error)
{
	dir_op_exit(NFS_OP_CREATE, dir, error);
	if (error == 0)
		created(dir, dentry);
	return 0;
}

SEC("tp_btf/nfs_mkdir_exit")
int BPF_PROG(nfs_mkdir_exit, const struct inode *dir, const struct dentry *dentry, int error)
{
	dir_op_exit(NFS_OP_CREATE, dir, error);
	if (error == 0)
		created(dir, dentry);
	return 0;
}

SEC("tp_btf/nfs_unlink_exit")
int BPF_PROG(nfs_unlink_exit, const struct inode *dir, const struct dentry *dentry, int error)
{
	dir_op_exit(NFS_OP_REMOVE, dir, error);
	if (error == 0)
		removed(dir, dentry);
	return 0;
}

SEC("tp_btf/nfs_rmdir_exit")
int BPF_PROG(nfs_rmdir_exit, const struct inode *dir, const struct dentry *dentry, int error)
{
	dir_op_exit(NFS_OP_REMOVE, dir, error);
	if (error == 0)
		removed(dir, dentry);
	return 0;
}

SEC("tp_btf/nfs_rename_exit")
int BPF_PROG(nfs_rename_exit, const struct inode *old_dir, const struct dentry *old_dentry,
	     const struct inode *new_dir, const struct dentry *new_dentry, int error)
{
	dir_op_exit(NFS_OP_RENAME, old_dir, error);
	if (error == 0) {
		removed(old_dir, old_dentry);
		created(new_dir, new_dentry); // the registry moves finished uploads into place
	}
	return 0;
}

SEC("tp_btf/nfs_sillyrename_rename")
int BPF_PROG(nfs_sillyrename_rename, const struct inode *old_dir, const struct dentry *old_dentry,
	     const struct inode *new_dir, const struct dentry *new_dentry, int error)
{
	if (!old_dir)
		return 0;
	struct nfs_cg_stats *s = stats_of(current_cgroup_id_of(key_v1_cpu), inode_sb(old_dir));

	if (s)
		s->silly_renames += 1;
	return 0;
}

// ---- READ / WRITE / COMMIT RPCs ----

static __always_inline void pgio_start(__u64 ptr, const struct inode *inode, __u32 op)
{
	__u64 cgid = cause_cgroup(inode);
	struct pgio_val val = {
		.start_ns = bpf_ktime_get_ns(),
		.cgroup_id = cgid,
		.fileid = inode_fileid(inode),
		.sb = inode_sb(inode),
		.op = op,
	};
	__u32 zero = 0;
	struct rpc_hint_val *hint = bpf_map_lookup_elem(&rpc_hint, &zero);

	if (bpf_map_update_elem(&pgio, &ptr, &val, BPF_ANY))
		count_drop(NFS_DROP_INFLIGHT_FULL);
	if (hint) { // the RPC this starts is charged to the same cgroup (see rpc_task_begin)
		hint->cgroup_id = cgid;
		hint->tid = current_tid();
	}
}

static __always_inline struct pgio_val *pgio_done(__u64 ptr, struct nfs_cg_stats **s, int status)
{
	struct pgio_val *v = bpf_map_lookup_elem(&pgio, &ptr);

	if (!v)
		return NULL;
	*s = stats_of(v->cgroup_id, v->sb);
	if (*s)
		charge_op(*s, v->op, bpf_ktime_get_ns() - v->start_ns, status);
	return v;
}

SEC("tp_btf/nfs_initiate_read")
int BPF_PROG(nfs_initiate_read, const struct nfs_pgio_header___cgs *hdr)
{
	if (!hdr)
		return 0;
	const struct inode *inode = hdr->inode;

	pgio_start((__u64)hdr, inode, NFS_OP_READ);
	file_event(cause_cgroup(inode), inode, FILE_READ, 1);
	return 0;
}

SEC("tp_btf/nfs_readpage_done")
int BPF_PROG(nfs_readpage_done, const struct rpc_task___cgs *task, const struct nfs_pgio_header___cgs *hdr)
{
	struct nfs_cg_stats *s = NULL;
	__u64 ptr = (__u64)hdr;

	if (!task || !hdr)
		return 0;
	int status = task->tk_status;

	if (pgio_done(ptr, &s, status) && s && status >= 0)
		s->read_bytes += hdr->res.count;
	bpf_map_delete_elem(&pgio, &ptr);
	return 0;
}

SEC("tp_btf/nfs_initiate_write")
int BPF_PROG(nfs_initiate_write, const struct nfs_pgio_header___cgs *hdr)
{
	if (!hdr)
		return 0;
	const struct inode *inode = hdr->inode;
	__u64 cgid = cause_cgroup(inode);

	pgio_start((__u64)hdr, inode, NFS_OP_WRITE);
	file_event(cgid, inode, FILE_WRITTEN, hdr->args.count);
	return 0;
}

SEC("tp_btf/nfs_writeback_done")
int BPF_PROG(nfs_writeback_done, const struct rpc_task___cgs *task, const struct nfs_pgio_header___cgs *hdr)
{
	struct nfs_cg_stats *s = NULL;
	__u64 ptr = (__u64)hdr;

	if (!task || !hdr)
		return 0;
	int status = task->tk_status;

	if (pgio_done(ptr, &s, status) && s && status >= 0)
		s->write_bytes += hdr->args.count;
	bpf_map_delete_elem(&pgio, &ptr);
	return 0;
}

SEC("tp_btf/nfs_initiate_commit")
int BPF_PROG(nfs_initiate_commit, const struct nfs_commit_data___cgs *data)
{
	if (data)
		pgio_start((__u64)data, data->inode, NFS_OP_COMMIT);
	return 0;
}

SEC("tp_btf/nfs_commit_done")
int BPF_PROG(nfs_commit_done, const struct rpc_task___cgs *task, const struct nfs_commit_data___cgs *data)
{
	struct nfs_cg_stats *s = NULL;
	__u64 ptr = (__u64)data;

	if (!task || !data)
		return 0;
	pgio_done(ptr, &s, task->tk_status);
	bpf_map_delete_elem(&pgio, &ptr);
	return 0;
}

// Pages dirtied on NFS, in the writer's context: who writes which file, and whom writeback
// RPCs of that inode are charged to.
SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(nfs_dirty_folio, struct folio *folio, struct address_space *mapping)
{
	if (!mapping)
		return 0;
	struct inode *inode = mapping->host;

	if (!inode || inode->i_sb->s_magic != NFS_SUPER_MAGIC || current_is_kthread())
		return 0;
	__u64 cgid = current_cgroup_id_of(key_v1_cpu);
	__u64 key = (__u64)inode;
	__u64 *last = bpf_map_lookup_elem(&dirtier, &key);

	if (!last || *last != cgid)
		bpf_map_update_elem(&dirtier, &key, &cgid, BPF_ANY);
	struct nfs_cg_stats *s = stats_of(cgid, inode_sb(inode));

	if (s)
		s->dirtied_pages += 1;
	file_event(cgid, inode, FILE_DIRTY, 1);
	return 0;
}

// ---- sunrpc: round trips per procedure ----

SEC("tp_btf/rpc_task_begin")
int BPF_PROG(rpc_task_begin, const struct rpc_task___cgs *task, const void *action)
{
	// A synchronous RPC completes in the caller's context: its cgroup is the current one then.
	// (A hint is left alone: it is set right before the asynchronous READ/WRITE/COMMIT it is
	// for, on the same CPU, and only that thread's next asynchronous RPC takes it.)
	if (!task || !(task->tk_flags & RPC_TASK_ASYNC))
		return 0;
	__u32 zero = 0;
	struct rpc_hint_val *hint = bpf_map_lookup_elem(&rpc_hint, &zero);
	__u64 cgid = current_cgroup_id_of(key_v1_cpu);
	__u64 ptr = (__u64)task;

	if (hint && hint->tid == current_tid() && hint->cgroup_id) {
		cgid = hint->cgroup_id;
		hint->cgroup_id = 0;
	}
	if (bpf_map_update_elem(&rpc_owner, &ptr, &cgid, BPF_ANY))
		count_drop(NFS_DROP_INFLIGHT_FULL);
	return 0;
}

static __always_inline struct nfs_rpc_stats *rpc_stats_of(const struct rpc_task___cgs *task)
{
	struct nfs_rpc_key key = {};
	__u64 ptr = (__u64)task;
	// Only asynchronous RPCs have an owner entry (see rpc_task_begin).
	__u64 *owner = task->tk_flags & RPC_TASK_ASYNC ? bpf_map_lookup_elem(&rpc_owner, &ptr) : NULL;
	struct nfs_rpc_stats *s;

	key.cgroup_id = owner ? *owner : current_cgroup_id_of(key_v1_cpu);
	key.proc = (__u64)task->tk_msg.rpc_proc;
	s = bpf_map_lookup_elem(&rpc_stats, &key);
	if (s)
		return s;
	// A new (cgroup, procedure) row: the procedure's name is read once, with its first row.
	if (!bpf_map_lookup_elem(&rpc_procs, &key.proc)) {
		struct nfs_rpc_proc proc = {
			.prog = task->tk_client->cl_prog,
			.vers = task->tk_client->cl_vers,
		};

		bpf_probe_read_kernel_str(proc.name, sizeof(proc.name), task->tk_msg.rpc_proc->p_name);
		bpf_map_update_elem(&rpc_procs, &key.proc, &proc, BPF_NOEXIST);
	}
	bpf_map_update_elem(&rpc_stats, &key, &zero_rpc, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&rpc_stats, &key);
	if (!s)
		count_drop(NFS_DROP_RPC_FULL);
	return s;
}

SEC("tp_btf/rpc_stats_latency")
int BPF_PROG(rpc_stats_latency, const struct rpc_task___cgs *task, ktime_t backlog, ktime_t rtt, ktime_t execute)
{
	if (!task)
		return 0;
	struct nfs_rpc_stats *s = rpc_stats_of(task);
	__u64 rtt_us = (__u64)rtt / 1000, execute_us = (__u64)execute / 1000;
	__u64 ptr = (__u64)task;

	if (task->tk_flags & RPC_TASK_ASYNC)
		bpf_map_delete_elem(&rpc_owner, &ptr); // the task's last event
	if (!s)
		return 0;
	s->count += 1;
	s->rtt_us += rtt_us;
	s->execute_us += execute_us;
	s->rtt_hist[hist_slot(rtt_us, NFS_RPC_HIST_SLOTS)] += 1;
	s->execute_hist[hist_slot(execute_us, NFS_RPC_HIST_SLOTS)] += 1;
	return 0;
}

SEC("tp_btf/xprt_retransmit")
int BPF_PROG(xprt_retransmit, const struct rpc_rqst___cgs *rqst)
{
	if (!rqst || !rqst->rq_task)
		return 0;
	struct nfs_rpc_stats *s = rpc_stats_of(rqst->rq_task);

	if (s)
		s->retransmits += 1;
	return 0;
}

SEC("tp_btf/rpc_timeout_status")
int BPF_PROG(rpc_timeout_status, const struct rpc_task___cgs *task)
{
	if (!task)
		return 0;
	struct nfs_rpc_stats *s = rpc_stats_of(task);

	if (s)
		s->timeouts += 1;
	return 0;
}

// ---- cached negative dentries (no tracepoint) ----

// The d_revalidate of an NFS dentry returned: for a negative dentry, 1 means the cache was
// trusted (ENOENT without asking the server), 0 that it will be looked up again. dentry: any
// kernel pointer (the kprobe path has it from a map).
static __always_inline void negative_revalidated(struct dentry *dentry, long ret)
{
	if (!dentry || BPF_CORE_READ(dentry, d_inode) || ret < 0)
		return;
	struct inode *dir = BPF_CORE_READ(dentry, d_parent, d_inode);

	if (!dir)
		return;
	__u64 cgid = current_cgroup_id_of(key_v1_cpu);
	struct nfs_sb_id sb = inode_sb_probed(dir);
	struct nfs_cg_stats *s = stats_of(cgid, sb);

	if (!s)
		return;
	if (ret == 0) {
		s->negative_rejected += 1;
		return;
	}
	s->negative_trusted += 1;

	// Did another cgroup create this name (on any client of this export)?
	struct nfs_stale_key key = { .victim_cgroup_id = cgid, .victim_sb = sb };

	name_key(&key.name, dir, dentry);
	struct nfs_creation *c = bpf_map_lookup_elem(&creations, &key.name);

	if (!c || c->cgroup_id == cgid)
		return;
	s->negative_stale += 1;
	struct nfs_stale *st = bpf_map_lookup_elem(&stale_names, &key);

	if (!st) {
		struct nfs_stale fresh = {};

		bpf_map_update_elem(&stale_names, &key, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&stale_names, &key);
		if (!st) {
			count_drop(NFS_DROP_NAMES_FULL);
			return;
		}
	}
	st->creator_cgroup_id = c->cgroup_id;
	st->last_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&st->count, 1);
}

SEC("fexit/nfs_lookup_revalidate")
int BPF_PROG(neg_fexit_v3, struct dentry *dentry, unsigned int flags, int ret)
{
	if (dentry && !dentry->d_inode) // most dentries are positive: one load and out
		negative_revalidated(dentry, ret);
	return 0;
}

SEC("fexit/nfs4_lookup_revalidate")
int BPF_PROG(neg_fexit_v4, struct dentry *dentry, unsigned int flags, int ret)
{
	if (dentry && !dentry->d_inode)
		negative_revalidated(dentry, ret);
	return 0;
}

static __always_inline void reval_enter(struct dentry *dentry)
{
	__u32 tid = current_tid();
	__u64 d = (__u64)dentry;

	bpf_map_update_elem(&reval_dentry, &tid, &d, BPF_ANY);
}

static __always_inline void reval_return(long ret)
{
	__u32 tid = current_tid();
	__u64 *d = bpf_map_lookup_elem(&reval_dentry, &tid);

	if (!d)
		return;
	struct dentry *dentry = (struct dentry *)*d;

	bpf_map_delete_elem(&reval_dentry, &tid);
	negative_revalidated(dentry, ret);
}

SEC("kprobe/nfs_lookup_revalidate")
int BPF_KPROBE(neg_kprobe_v3, struct dentry *dentry)
{
	reval_enter(dentry);
	return 0;
}

SEC("kretprobe/nfs_lookup_revalidate")
int BPF_KRETPROBE(neg_kretprobe_v3, long ret)
{
	reval_return(ret);
	return 0;
}

SEC("kprobe/nfs4_lookup_revalidate")
int BPF_KPROBE(neg_kprobe_v4, struct dentry *dentry)
{
	reval_enter(dentry);
	return 0;
}

SEC("kretprobe/nfs4_lookup_revalidate")
int BPF_KRETPROBE(neg_kretprobe_v4, long ret)
{
	reval_return(ret);
	return 0;
}

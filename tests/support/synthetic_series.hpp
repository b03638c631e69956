// A deterministic series of cumulative Samples shaped like a container host, for recording
// tests and benchmarks (pure data, no kernel): most cgroups idle, some lightly active, a few
// busy; containers come and go. Optionally an NFS client host: mounts with mountstats,
// (cgroup, mount) rows, RPCs, shared files and stale names, a few of which change every sample.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "model/cgroup_identity.hpp"
#include "model/snapshot.hpp"

namespace cgscope::test {

// The NFS part of each sample (all zero: no NFS data, as on a host without the NFS collector).
struct NfsActivity {
  std::size_t mounts = 0;         // NFS mounts (NFSv3, realistic options), each with mountstats
  std::size_t cgroup_mounts = 0;  // (cgroup, mount) rows, and two RPC rows (GETATTR, READ) each
  std::size_t files = 0;          // files in the sharing table; one replaced every 20 samples
  std::size_t stale_names = 0;
  bool idle = false;  // mounted, nothing happens: only the mountstats' age goes on
};

struct SeriesOptions {
  std::size_t cgroups = 1000;
  double busy_fraction = 0.10;    // every counter and ~16 histogram buckets change each interval
  double active_fraction = 0.30;  // a few switches and a bucket or two
  double churn = 0.001;           // per cgroup and interval: replaced by a new container
  std::uint64_t interval_ns = 1'000'000'000;
  std::uint64_t seed = 1;
  NfsActivity nfs;
};

class SyntheticSeries {
 public:
  explicit SyntheticSeries(SeriesOptions options)
      : options_(options), rng_(options.seed), nfs_rng_(options.seed ^ 0x6e6673) {
    for (std::size_t i = 0; i < options_.cgroups; ++i) cgroups_.push_back(make_cgroup(i));
    make_nfs();
  }

  model::Sample next() {
    model::Sample s;
    s.monotonic_ns = 5'000'000'000ULL + step_ * options_.interval_ns;
    s.realtime_ns = 1'800'000'000'000'000'000LL + static_cast<std::int64_t>(step_ * options_.interval_ns);
    s.nr_cpus = 16;
    s.page_size = 4096;
    s.collectors = {
        {"cgroupfs", true, "layout v2", {{"read_errors", 0}, {"parse_errors", 0}}},
        {"cpu", true, "eBPF tp_btf+sched_info", {{"cgroup_map_full", 0}, {"kernel_recursion_misses", 0}}}};
    if (step_ > 0) {
      for (std::size_t i = 0; i < cgroups_.size(); ++i) {
        if (uniform() < options_.churn) {
          model::CgroupSample gone = cgroups_[i].sample;
          gone.removed = true;
          s.cgroups.push_back(gone);  // reported once more as removed, then replaced
          cgroups_[i] = make_cgroup(next_index_++);
          continue;
        }
        advance(cgroups_[i]);
      }
    }
    for (const auto& c : cgroups_) s.cgroups.push_back(c.sample);
    if (options_.nfs.mounts > 0) {
      if (step_ > 0) advance_nfs();
      s.nfs = nfs_;
      s.collectors.push_back({"nfs", true, "eBPF nfs/sunrpc tracepoints", {{"files_full", 0}}});
    }
    ++step_;
    return s;
  }

 private:
  enum class Kind { kIdle, kActive, kBusy };
  struct Cgroup {
    model::CgroupSample sample;
    Kind kind;
  };

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  std::uint64_t upto(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n)(rng_); }
  // The NFS part draws from a generator of its own: the cgroups are the same with or without it.
  double nfs_uniform() { return std::uniform_real_distribution<double>(0, 1)(nfs_rng_); }
  std::uint64_t nfs_upto(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n)(nfs_rng_);
  }

  Cgroup make_cgroup(std::size_t index) {
    Cgroup c;
    const double r = uniform();
    c.kind = r < options_.busy_fraction                              ? Kind::kBusy
             : r < options_.busy_fraction + options_.active_fraction ? Kind::kActive
                                                                     : Kind::kIdle;
    auto& id = c.sample.identity;
    id.id = 10'000 + index;
    char hex[65];
    for (int i = 0; i < 64; ++i) hex[i] = "0123456789abcdef"[upto(15)];
    hex[64] = 0;
    if (index % 3 == 0) {
      id.path = "/system.slice/unit-" + std::to_string(index) + ".service";
    } else {
      id.path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + std::to_string(index) +
                ".slice/cri-containerd-" + hex + ".scope";
    }
    id.container = model::parse_container_identity(id.path);
    auto& cg = c.sample;
    cg.cpu_stat = {upto(1'000'000'000), upto(1'000'000), upto(1'000'000),
                   upto(10'000),        upto(100),       upto(1'000'000)};
    cg.cpu_knobs.period_usec = 100'000;
    cg.cpu_knobs.weight = 100;
    cg.cpu_knobs.quota_known = true;
    if (index % 4 == 0) cg.cpu_knobs.quota_usec = 200'000;
    cg.cpu_knobs.cpuset_cpus = "0-15";
    cg.cpu_pressure.some = model::PsiLine{0, 0, 0, upto(1'000'000)};
    cg.cpu_pressure.full = model::PsiLine{0, 0, 0, upto(100'000)};
    if (c.kind != Kind::kIdle) {
      model::CpuBpfCounters b;
      b.on_cpu_ns = upto(1'000'000'000'000);
      b.voluntary_switches = upto(1'000'000);
      b.involuntary_switches = upto(100'000);
      b.migrations = upto(10'000);
      for (std::size_t k = 8; k < 26; ++k) b.wakeup_delay_ns.add_to_bucket(k, upto(10'000));
      for (std::size_t k = 10; k < 24; ++k) b.preempt_delay_ns.add_to_bucket(k, upto(1'000));
      cg.cpu_bpf = b;
    }
    return c;
  }

  void advance(Cgroup& c) {
    auto& cg = c.sample;
    if (c.kind == Kind::kIdle) return;
    const bool busy = c.kind == Kind::kBusy;
    auto& b = *cg.cpu_bpf;
    b.on_cpu_ns += busy ? 200'000'000 + upto(800'000'000) : upto(5'000'000);
    b.voluntary_switches += busy ? upto(5'000) : upto(20);
    b.involuntary_switches += busy ? upto(500) : upto(2);
    b.migrations += busy ? upto(50) : 0;
    const int buckets = busy ? 16 : 2;
    for (int k = 0; k < buckets; ++k) {
      b.wakeup_delay_ns.add_to_bucket(10 + upto(15), busy ? upto(300) : 1);
      if (busy) b.preempt_delay_ns.add_to_bucket(12 + upto(10), upto(40));
    }
    b.wakeup_delay_ns_sum += busy ? upto(50'000'000) : upto(100'000);
    b.preempt_delay_ns_sum += busy ? upto(20'000'000) : 0;
    *cg.cpu_stat.usage_usec += b.on_cpu_ns % 1'000'000;
    *cg.cpu_stat.user_usec += busy ? upto(800'000) : upto(4'000);
    *cg.cpu_stat.system_usec += busy ? upto(200'000) : upto(1'000);
    if (busy) {
      *cg.cpu_stat.nr_periods += 10;
      *cg.cpu_stat.nr_throttled += upto(3);
      *cg.cpu_stat.throttled_usec += upto(50'000);
      auto& some = *cg.cpu_pressure.some;
      some.avg10 = static_cast<double>(upto(9000)) / 100.0;
      some.avg60 = static_cast<double>(upto(9000)) / 100.0;
      some.avg300 = static_cast<double>(upto(9000)) / 100.0;
      some.total_usec += upto(300'000);
    }
  }

  void make_nfs() {
    const auto& o = options_.nfs;
    if (o.mounts == 0) return;
    nfs_.active = true;
    nfs_.negative_lookups_visible = true;
    for (std::size_t m = 0; m < o.mounts; ++m) {
      model::NfsMount mount;
      mount.dev = model::make_dev(0, 50 + static_cast<std::uint32_t>(m));
      mount.sb_instance = 4000 + static_cast<std::uint32_t>(m);
      mount.mount_id = 300 + static_cast<std::uint32_t>(m);
      mount.mount_point = "/srv/registry-" + std::to_string(m);
      mount.server = "10.0.0." + std::to_string(5 + m);
      mount.export_path = "/export/registry-" + std::to_string(m);
      mount.source = mount.server + ":" + mount.export_path;
      mount.fstype = "nfs";
      mount.vers = "3";
      mount.options = {{"rw", ""},
                       {"relatime", ""},
                       {"vers", "3"},
                       {"rsize", "1048576"},
                       {"wsize", "1048576"},
                       {"namlen", "255"},
                       {"hard", ""},
                       {"proto", "tcp"},
                       {"timeo", "600"},
                       {"retrans", "2"},
                       {"sec", "sys"},
                       {"mountvers", "3"},
                       {"mountport", "20048"},
                       {"mountproto", "udp"},
                       {"local_lock", "none"},
                       {"addr", mount.server},
                       {"mountaddr", mount.server}};
      mount.rsize = mount.wsize = 1048576;
      nfs_.mounts.push_back(mount);
      model::NfsMountStats st;
      st.source = mount.source;
      st.mount_point = mount.mount_point;
      st.fstype = "nfs";
      st.age_seconds = 86'400 + nfs_upto(86'400);
      for (std::string_view e : model::kNfsMountstatsEvents) st.events[std::string(e)] = nfs_upto(1'000'000);
      for (std::string_view b : model::kNfsMountstatsBytes) st.bytes[std::string(b)] = nfs_upto(1'000'000'000);
      st.transport = "tcp";
      for (std::string_view x : model::kNfsMountstatsTcpXprt) st.xprt[std::string(x)] = nfs_upto(1'000'000);
      for (const char* op : kNfs3Procedures)
        st.ops[op] = {nfs_upto(100'000),   nfs_upto(100'000),   0,
                      nfs_upto(1'000'000), nfs_upto(1'000'000), nfs_upto(10'000),
                      nfs_upto(100'000),   nfs_upto(100'000),   std::uint64_t{0}};
      nfs_.mountstats.push_back(std::move(st));
    }
    for (std::size_t r = 0; r < o.cgroup_mounts; ++r) {
      model::NfsCgroupMountCounters c;
      c.cgroup_id = 10'000 + r / o.mounts;
      c.dev = nfs_.mounts[r % o.mounts].dev;
      c.sb_instance = nfs_.mounts[r % o.mounts].sb_instance;
      for (std::size_t op = 0; op < model::kNfsOps; op += 3) {
        c.ops[op].count = nfs_upto(100'000);
        c.ops[op].time_ns = c.ops[op].count * 300'000;
        for (std::size_t k = 12; k < 24; ++k) c.ops[op].time_ns_hist.add_to_bucket(k, nfs_upto(10'000));
      }
      c.read_bytes = nfs_upto(1'000'000'000);
      c.write_bytes = nfs_upto(100'000'000);
      nfs_.cgroups.push_back(c);
      for (const char* proc : {"GETATTR", "READ"}) {
        model::NfsRpcCounters rpc;
        rpc.cgroup_id = c.cgroup_id;
        rpc.prog = 100003;
        rpc.vers = 3;
        rpc.procedure = proc;
        rpc.count = nfs_upto(100'000);
        rpc.rtt_us = rpc.count * 200;
        rpc.execute_us = rpc.count * 250;
        for (std::size_t k = 6; k < 14; ++k) rpc.rtt_us_hist.add_to_bucket(k, nfs_upto(10'000));
        for (std::size_t k = 6; k < 15; ++k) rpc.execute_us_hist.add_to_bucket(k, nfs_upto(10'000));
        nfs_.rpc.push_back(rpc);
      }
    }
    sort_nfs_rows();
    for (std::size_t f = 0; f < o.files; ++f) nfs_.files.push_back(make_file());
    std::sort(nfs_.files.begin(), nfs_.files.end(), [](const auto& a, const auto& b) {
      return std::tie(a.export_id, a.fileid) < std::tie(b.export_id, b.fileid);
    });
    for (std::size_t n = 0; n < o.stale_names; ++n) {
      model::NfsStaleName name;
      name.export_id = 1;
      name.dir_fileid = 7'000 + n;
      name.name_hash = static_cast<std::uint32_t>(nfs_upto(0xffffffff));
      name.victim_cgroup_id = 10'001;
      name.creator_cgroup_id = 10'002;
      name.victim_dev = nfs_.mounts[0].dev;
      name.victim_sb_instance = nfs_.mounts[0].sb_instance;
      name.count = 1 + nfs_upto(5);
      nfs_.stale_names.push_back(name);
    }
  }

  // As the collector sorts them (so that consecutive samples line up).
  void sort_nfs_rows() {
    std::sort(nfs_.cgroups.begin(), nfs_.cgroups.end(), [](const auto& a, const auto& b) {
      return std::tie(a.cgroup_id, a.dev, a.sb_instance) < std::tie(b.cgroup_id, b.dev, b.sb_instance);
    });
    std::sort(nfs_.rpc.begin(), nfs_.rpc.end(), [](const auto& a, const auto& b) {
      return std::tie(a.cgroup_id, a.prog, a.vers, a.procedure) <
             std::tie(b.cgroup_id, b.prog, b.vers, b.procedure);
    });
  }

  model::NfsFileCounters make_file() {
    model::NfsFileCounters f;
    f.export_id = 1;
    f.fileid = next_fileid_++;
    const std::size_t users = 1 + nfs_upto(2);
    for (std::size_t u = 0; u < users; ++u) {
      const auto& m = nfs_.mounts[u % nfs_.mounts.size()];
      f.cgroups.push_back({10'000 + u, m.dev, m.sb_instance, u == 0 ? nfs_upto(1'000'000) : 0, 0,
                           nfs_upto(1'000), nfs_upto(1'000), 0});
    }
    return f;
  }

  // A little of everything changes each sample: what a host with NFS traffic looks like.
  void advance_nfs() {
    const std::uint64_t seconds = options_.interval_ns / 1'000'000'000;
    for (auto& st : nfs_.mountstats) st.age_seconds += seconds;
    if (options_.nfs.idle) return;
    for (auto& st : nfs_.mountstats) {
      for (const char* e : {"inode_revalidate", "dentry_revalidate", "vfs_open", "vfs_lookup", "vfs_access",
                            "vfs_read_pages", "vfs_file_release"})
        st.events[e] += nfs_upto(200);
      st.bytes["normal_read"] += nfs_upto(10'000'000);
      st.bytes["read_pages"] += nfs_upto(2'000);
      st.bytes["server_read"] += nfs_upto(10'000'000);
      st.xprt["sends"] += nfs_upto(500);
      st.xprt["receives"] += nfs_upto(500);
      st.xprt["req_u"] += nfs_upto(5'000);
      st.xprt["backlog_u"] += nfs_upto(50);
      st.xprt["idle_time"] = 1'800'000'000 + step_;
      for (const char* op : {"GETATTR", "ACCESS", "LOOKUP", "READ"}) {
        auto& s = st.ops[op];
        const std::uint64_t n = nfs_upto(100);
        s.ops += n;
        s.transmissions += n;
        s.bytes_sent += n * 120;
        s.bytes_received += n * (std::string(op) == "READ" ? 32'768 : 112);
        s.queue_ms += nfs_upto(n);
        s.rtt_ms += nfs_upto(n * 2);
        s.execute_ms += nfs_upto(n * 3);
      }
    }
    for (auto& c : nfs_.cgroups) {
      if (nfs_uniform() >= 0.25) continue;
      for (std::size_t op : {std::size_t{0}, std::size_t{1}, std::size_t{10}}) {
        auto& o = c.ops[op];
        const std::uint64_t n = 1 + nfs_upto(50);
        o.count += n;
        o.time_ns += n * (200'000 + nfs_upto(200'000));
        o.time_ns_hist.add_to_bucket(17 + nfs_upto(2), n);
      }
      c.read_bytes += nfs_upto(10'000'000);
    }
    for (auto& r : nfs_.rpc) {
      if (nfs_uniform() >= 0.25) continue;
      const std::uint64_t n = 1 + nfs_upto(50);
      r.count += n;
      r.rtt_us += n * (150 + nfs_upto(100));
      r.execute_us += n * (200 + nfs_upto(100));
      r.rtt_us_hist.add_to_bucket(7 + nfs_upto(1), n);
      r.execute_us_hist.add_to_bucket(7 + nfs_upto(2), n);
    }
    for (auto& f : nfs_.files) {
      if (nfs_uniform() >= 0.1) continue;
      auto& c = f.cgroups[nfs_upto(f.cgroups.size() - 1)];
      c.reads += 1 + nfs_upto(20);
      c.revalidations += 1 + nfs_upto(5);
      if (c.written_bytes) c.written_bytes += nfs_upto(100'000);
    }
    if (step_ % 20 == 0 && !nfs_.files.empty()) {  // the oldest file leaves the table, a new one comes
      nfs_.files.erase(nfs_.files.begin());
      nfs_.files.push_back(make_file());
    }
    if (step_ % 10 == 0 && !nfs_.stale_names.empty())
      ++nfs_.stale_names[nfs_upto(nfs_.stale_names.size() - 1)].count;
  }

  static constexpr std::array<const char*, 22> kNfs3Procedures = {
      "NULL",    "GETATTR",     "SETATTR", "LOOKUP", "ACCESS",   "READLINK", "READ",   "WRITE",
      "CREATE",  "MKDIR",       "SYMLINK", "MKNOD",  "REMOVE",   "RMDIR",    "RENAME", "LINK",
      "READDIR", "READDIRPLUS", "FSSTAT",  "FSINFO", "PATHCONF", "COMMIT"};

  SeriesOptions options_;
  std::mt19937_64 rng_, nfs_rng_;
  std::vector<Cgroup> cgroups_;
  std::size_t next_index_ = 1'000'000;
  std::uint64_t step_ = 0;
  model::NfsSample nfs_;
  std::uint64_t next_fileid_ = 900'000;
};

}  // namespace cgscope::test

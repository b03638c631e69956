#include "collector/cgroupfs/demand_sampler.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>
#include <system_error>

#include "collector/cgroupfs/parse.hpp"

namespace cgscope::collector {
namespace {

std::uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

timespec to_timespec(std::uint64_t ns) {
  return {static_cast<time_t>(ns / 1'000'000'000ULL), static_cast<long>(ns % 1'000'000'000ULL)};
}

// The longest single sleep: a stop request is seen within this (clock_nanosleep cannot be
// woken without a signal, and the thread takes none).
constexpr std::uint64_t kStopCheckNs = 100'000'000;

// Gone with its cgroup: the directory was removed (ENOENT before the open, ENODEV after).
bool vanished_errno(int err) { return err == ENOENT || err == ENODEV || err == ENOTDIR; }

std::string ms_text(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

}  // namespace

std::optional<std::uint32_t> slot_centi_cpus(const DemandReading& prev, const DemandReading& curr,
                                             int nr_cpus) {
  if (curr.at_ns <= prev.at_ns || curr.usage_ns < prev.usage_ns || curr.throttled_ns < prev.throttled_ns)
    return std::nullopt;
  // 128 bits: a slot stretched by a stalled process times many CPUs overflows 64 bits x 100.
  const unsigned __int128 busy_ns =
      static_cast<unsigned __int128>(curr.usage_ns - prev.usage_ns) + (curr.throttled_ns - prev.throttled_ns);
  const unsigned __int128 centi = busy_ns * 100 / (curr.at_ns - prev.at_ns);
  const std::uint64_t cap = 100ULL * static_cast<std::uint64_t>(std::max(nr_cpus, 1));
  return static_cast<std::uint32_t>(centi < cap ? static_cast<std::uint64_t>(centi) : cap);
}

Wake after_wake(std::uint64_t deadline_ns, std::uint64_t now_ns, std::uint64_t slot_ns) {
  if (slot_ns == 0) return {0, now_ns};
  Wake w;
  w.skipped_slots = now_ns > deadline_ns ? (now_ns - deadline_ns) / slot_ns : 0;
  w.next_deadline_ns = deadline_ns + (w.skipped_slots + 1) * slot_ns;
  return w;
}

void add_slot(std::vector<model::CpuDemandBucket>& buckets, std::uint32_t centi_cpus) {
  auto it =
      std::lower_bound(buckets.begin(), buckets.end(), centi_cpus,
                       [](const model::CpuDemandBucket& b, std::uint32_t c) { return b.centi_cpus < c; });
  if (it != buckets.end() && it->centi_cpus == centi_cpus)
    ++it->slots;
  else
    buckets.insert(it, {centi_cpus, 1});  // a demand value not seen before: the only allocation
}

Result<std::unique_ptr<DemandSampler>> DemandSampler::manual(DemandSamplerOptions options) {
  if (options.slot < kMinDemandSlot || options.slot > kMaxDemandSlot)
    return Error{"CPU demand sampler: slot of " + ms_text(options.slot) + " out of range (" +
                 ms_text(kMinDemandSlot) + " to " + ms_text(kMaxDemandSlot) + ")"};
  options.nr_cpus = std::max(options.nr_cpus, 1);
  if (!options.clock_ns) options.clock_ns = monotonic_now_ns;
  int max_open = options.max_open_files;
  if (max_open < 0) {  // leave three quarters of the process's descriptors to everything else
    rlimit limit{};
    const rlim_t soft = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
    max_open = static_cast<int>(std::min<rlim_t>(soft / 4, 4096));
  }
  return std::unique_ptr<DemandSampler>(new DemandSampler(options, max_open));
}

Result<std::unique_ptr<DemandSampler>> DemandSampler::start(DemandSamplerOptions options) {
  auto sampler = manual(options);
  if (!sampler) return sampler;
  DemandSampler* self = sampler->get();
  // The thread is born with every signal blocked (it inherits this mask), so none is ever
  // delivered to it: signals go to the command's own thread.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    self->thread_ = std::jthread([self](const std::stop_token& stop) { self->run(stop); });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return Error{std::string("CPU demand sampler: starting its thread: ") + e.what()};
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return sampler;
}

DemandSampler::~DemandSampler() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  for (Entry& e : entries_) close_files(e);
}

void DemandSampler::close_files(Entry& e) {
  for (int* fd : {&e.stat_fd, &e.usage_fd}) {
    if (*fd < 0) continue;
    ::close(*fd);
    *fd = -1;
    --open_files_;
  }
}

ssize_t DemandSampler::read_counter(const std::string& path, int& fd, char* buf, std::size_t size,
                                    ino_t& opened_ino) {
  opened_ino = 0;
  bool keep = true;
  if (fd < 0) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st {};
    if (::fstat(fd, &st) == 0) opened_ino = st.st_ino;
    keep = open_files_ < max_open_files_;
    if (keep) ++open_files_;
  }
  // A cgroup file is generated whole by one read (seq_file): one pread of a buffer larger than
  // the file is all of it; a full buffer means it was not.
  ssize_t n;
  do {
    n = ::pread(fd, buf, size, 0);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  if (!keep) {
    ::close(fd);
    fd = -1;
  }
  if (n >= 0 && static_cast<std::size_t>(n) == size) {
    errno = EFBIG;
    return -1;
  }
  errno = err;
  return n;
}

void DemandSampler::run(const std::stop_token& stop) {
  pthread_setname_np(pthread_self(), "cgscope-demand");  // its CPU time: /proc/PID/task/TID/sched
  // Capabilities belong to threads: this one reads world-readable cgroupfs files and needs none.
  if (cap_t none = cap_init()) {
    cap_set_proc(none);
    cap_free(none);
  }
  const auto slot_ns = static_cast<std::uint64_t>(options_.slot.count());
  // Absolute deadlines on CLOCK_MONOTONIC: a slow round or a late wake-up never shifts the grid.
  std::uint64_t deadline = monotonic_now_ns() + slot_ns;
  while (!stop.stop_requested()) {
    for (std::uint64_t now = monotonic_now_ns(); now < deadline && !stop.stop_requested();
         now = monotonic_now_ns()) {
      const timespec until = to_timespec(std::min(deadline, now + kStopCheckNs));
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
    }
    if (stop.stop_requested()) break;
    const Wake wake = after_wake(deadline, monotonic_now_ns(), slot_ns);
    read_round(wake.skipped_slots);
    deadline = wake.next_deadline_ns;
  }
}

bool DemandSampler::read(Entry& e, DemandReading& out, Failure& failure) {
  char buf[2048];
  auto failed = [&](const std::string& path, int err) {
    failure.vanished = vanished_errno(err);
    failure.message = path + ": " + std::strerror(err);
    return false;
  };
  auto bad = [&](const std::string& path, const std::string& why) {
    failure.vanished = false;
    failure.message = path + ": " + why;
    return false;
  };
  ino_t ino = 0;
  ssize_t n = read_counter(e.files.cpu_stat, e.stat_fd, buf, sizeof buf, ino);
  if (n < 0) return failed(e.files.cpu_stat, errno);
  if (ino != 0) {  // opened now: the same file as the previous read? (a kept fd is by construction)
    if (e.have_prev && ino != e.stat_ino) {
      failure.vanished = true;
      failure.message = e.files.cpu_stat + ": another cgroup under the same path";
      return false;
    }
    e.stat_ino = ino;
  }
  const std::string_view stat_text(buf, static_cast<std::size_t>(n));
  if (!e.files.v1()) {
    auto st = parse_cpu_stat_v2(stat_text);
    if (!st) return bad(e.files.cpu_stat, st.error());
    if (!st->usage_usec) return bad(e.files.cpu_stat, "no usage_usec");
    out.usage_ns = *st->usage_usec * 1000;
    out.throttled_ns = st->throttled_usec.value_or(0) * 1000;
  } else {
    auto st = parse_cpu_stat_v1(stat_text);
    if (!st) return bad(e.files.cpu_stat, st.error());
    if (!st->throttled_usec) return bad(e.files.cpu_stat, "no throttled_time");
    out.throttled_ns = *st->throttled_usec * 1000;
    n = read_counter(e.files.cpuacct_usage, e.usage_fd, buf, sizeof buf, ino);
    if (n < 0) return failed(e.files.cpuacct_usage, errno);
    auto usage = parse_u64_file(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!usage) return bad(e.files.cpuacct_usage, usage.error());
    out.usage_ns = *usage;
  }
  out.at_ns = options_.clock_ns();
  return true;
}

void DemandSampler::read_round(std::uint64_t skipped_slots) {
  std::lock_guard lock(mutex_);
  for (Entry& e : entries_) {
    if (!e.reading) {  // out of the set since a failed read: each slot is missed
      if (e.gap) e.missed_slots += 1 + skipped_slots;
      continue;
    }
    DemandReading now;
    Failure failure;
    if (!read(e, now, failure)) {
      close_files(e);              // a removed cgroup's files read ENODEV: let them go
      if (e.have_prev || e.gap) {  // a cgroup that had started: this slot is missed, and the next ones
        e.missed_slots += 1 + skipped_slots;
        e.gap = true;
      }
      e.reading = false;
      e.have_prev = false;
      if (!failure.vanished) {
        ++read_errors_;
        last_error_ = std::move(failure.message);
      }
      continue;
    }
    if (e.have_prev) {
      if (auto centi = slot_centi_cpus(e.prev, now, options_.nr_cpus)) {
        add_slot(e.buckets, *centi);
        e.missed_slots += skipped_slots;
      } else {
        e.missed_slots += 1 + skipped_slots;
      }
    } else if (e.gap) {  // the base read after a failed one ends one more unmeasured slot
      e.missed_slots += 1 + skipped_slots;
      e.gap = false;
    }
    e.prev = now;
    e.have_prev = true;
  }
}

void DemandSampler::exchange(std::vector<model::CgroupSample>& cgroups, std::vector<DemandTarget> targets) {
  std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  targets.erase(
      std::unique(targets.begin(), targets.end(), [](const auto& a, const auto& b) { return a.id == b.id; }),
      targets.end());
  auto by_id = [](const Entry& e, std::uint64_t id) { return e.id < id; };
  std::lock_guard lock(mutex_);
  for (auto& cg : cgroups) {
    if (cg.removed) continue;  // removed cgroups carry their last eBPF values only
    auto it = std::lower_bound(entries_.begin(), entries_.end(), cg.identity.id, by_id);
    if (it == entries_.end() || it->id != cg.identity.id) continue;
    cg.cpu_demand.slot_ns = static_cast<std::uint64_t>(options_.slot.count());
    cg.cpu_demand.buckets = it->buckets;
    cg.cpu_demand.missed_slots = it->missed_slots;
  }
  std::vector<Entry> next;
  next.reserve(targets.size());
  for (auto& t : targets) {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), t.id, by_id);
    if (it == entries_.end() || it->id != t.id) {
      Entry e;
      e.id = t.id;
      e.files = std::move(t.files);
      next.push_back(std::move(e));
      continue;
    }
    Entry e = std::move(*it);
    it->stat_fd = it->usage_fd = -1;  // moved to e
    if (e.files != t.files) {         // its files moved (another v1 path): start again from a new read
      close_files(e);
      e.files = std::move(t.files);
      if (e.have_prev) e.gap = true;
      e.have_prev = false;
    }
    e.reading = true;  // back in the set after a failed read: the next read is its new base
    next.push_back(std::move(e));
  }
  for (Entry& gone : entries_) close_files(gone);  // those that left the set (the others moved out)
  entries_ = std::move(next);
}

std::size_t DemandSampler::sampled() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return e.reading; }));
}

std::size_t DemandSampler::open_files() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(open_files_);
}

std::uint64_t DemandSampler::read_errors() const {
  std::lock_guard lock(mutex_);
  return read_errors_;
}

std::string DemandSampler::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace cgscope::collector

#include "tests/bpf/workload.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace cgscope::test {
namespace fs = std::filesystem;

namespace {

Status write_file(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  if (!f) return Error{"writing '" + value + "' to " + path + ": " + std::strerror(errno)};
  return {};
}

std::uint64_t inode_of(const std::string& dir) {
  struct stat st{};
  return !dir.empty() && stat(dir.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void move_all_to(const std::string& dir, const std::string& parent_procs) {
  if (dir.empty()) return;
  std::istringstream procs(read_all(dir + "/cgroup.procs"));
  std::string pid;
  while (procs >> pid) (void)write_file(parent_procs, pid);
}

// A cgroup path relative to the hierarchy's mount: "/a/b". Without the leading '/' the
// directories would be made next to the mount ("/sys/fs/cgroup/unifieda": a plain directory in
// the tmpfs at /sys/fs/cgroup on a hybrid host); with ".." outside it; "/" is the root cgroup.
Status check_relative_path(const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Error{"TestCgroup: bad cgroup path \"" + path + "\": " + why +
                 " (give it relative to the cgroup mount, with a leading '/': \"/cgscope-test-PID/name\")"};
  };
  if (path.empty() || path.front() != '/') return bad("it does not start with '/'");
  if (path.find_first_not_of('/') == std::string::npos) return bad("it is the root cgroup");
  for (std::size_t begin = 1; begin <= path.size();) {
    std::size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    const std::string_view part(path.data() + begin, end - begin);
    if (part == "." || part == "..") return bad("it has a '" + std::string(part) + "' component");
    begin = end + 1;
  }
  return {};
}

}  // namespace

std::string bpf_test_prerequisites() {
  if (geteuid() != 0) return "needs root (loads eBPF programs, creates cgroups)";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "kernel has no BTF (/sys/kernel/btf/vmlinux)";
  return {};
}

Result<std::unique_ptr<TestCgroup>> TestCgroup::create(const collector::Hierarchy& h,
                                                       const std::string& relative_path) {
  if (auto s = check_relative_path(relative_path); !s) return Error{s.error()};
  auto cg = std::make_unique<TestCgroup>();
  cg->path_ = relative_path;
  auto make = [&](const std::string& root, std::string& out) -> Status {
    if (root.empty()) return {};
    out = root + relative_path;
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec) return Error{"creating cgroup " + out + ": " + ec.message()};
    return {};
  };
  if (auto s = make(h.v2_root, cg->v2_dir_); !s) return Error{s.error()};
  if (auto s = make(h.v1_root("cpu"), cg->v1_cpu_dir_); !s) return Error{s.error()};
  const std::string acct = h.v1_root("cpuacct");
  if (!acct.empty() && acct != h.v1_root("cpu")) {
    if (auto s = make(acct, cg->v1_cpuacct_dir_); !s) return Error{s.error()};
  } else {
    cg->v1_cpuacct_dir_ = cg->v1_cpu_dir_;
  }
  if (auto s = make(h.v1_root("memory"), cg->v1_memory_dir_); !s) return Error{s.error()};
  if (auto s = make(h.v1_root("blkio"), cg->v1_blkio_dir_); !s) return Error{s.error()};
  cg->v2_root_ = h.v2_root;
  return cg;
}

TestCgroup::~TestCgroup() {
  if (removed_) return;
  // Tasks should be gone; anything left over is moved to the root so rmdir can work.
  auto root_of = [](const std::string& dir, const std::string& rel) {
    return dir.substr(0, dir.size() - rel.size());
  };
  for (const std::string* dir : {&v2_dir_, &v1_cpu_dir_, &v1_cpuacct_dir_, &v1_memory_dir_, &v1_blkio_dir_}) {
    if (dir->empty()) continue;
    move_all_to(*dir, root_of(*dir, path_) + "/cgroup.procs");
  }
  remove();
}

bool TestCgroup::remove() {
  bool ok = true;
  for (const std::string* dir : {&v2_dir_, &v1_cpu_dir_, &v1_cpuacct_dir_, &v1_memory_dir_, &v1_blkio_dir_}) {
    if (dir->empty() || !fs::exists(*dir)) continue;
    // Children first (tests nest cgroups one level deep at most).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(*dir, ec))
      if (e.is_directory()) rmdir(e.path().c_str());
    if (rmdir(dir->c_str()) != 0 && errno != ENOENT) {
      ok = false;
      continue;
    }
    // Then the test's parents ("/cgscope-test-PID"), once their last child is gone; a parent
    // that still has children stays (ENOTEMPTY / EBUSY) for its last child to remove.
    const std::string root = dir->substr(0, dir->size() - path_.size());
    for (std::string rel = path_; rel.rfind('/') != 0 && rel.rfind('/') != std::string::npos;) {
      rel.resize(rel.rfind('/'));
      if (rmdir((root + rel).c_str()) != 0) break;
    }
  }
  removed_ = ok;
  return ok;
}

std::uint64_t TestCgroup::v2_id() const { return inode_of(v2_dir_); }
std::uint64_t TestCgroup::v1_cpu_id() const { return inode_of(v1_cpu_dir_); }

Status TestCgroup::add(pid_t pid) {
  for (const std::string* dir : {&v2_dir_, &v1_cpu_dir_, &v1_cpuacct_dir_, &v1_memory_dir_, &v1_blkio_dir_}) {
    if (dir->empty()) continue;
    if (auto s = write_file(*dir + "/cgroup.procs", std::to_string(pid)); !s) return s;
  }
  return {};
}

Status TestCgroup::write_v2(const std::string& file, const std::string& value) {
  return write_file(v2_dir_ + "/" + file, value);
}

Status TestCgroup::write_v1_cpu(const std::string& file, const std::string& value) {
  if (v1_cpu_dir_.empty()) return Error{"no v1 cpu hierarchy on this host"};
  return write_file(v1_cpu_dir_ + "/" + file, value);
}

bool TestCgroup::has_v1(const std::string& controller) const {
  if (controller == "cpu") return !v1_cpu_dir_.empty();
  if (controller == "cpuacct") return !v1_cpuacct_dir_.empty();
  if (controller == "memory") return !v1_memory_dir_.empty();
  if (controller == "blkio") return !v1_blkio_dir_.empty();
  return false;
}

Status TestCgroup::write_v1(const std::string& controller, const std::string& file, const std::string& value) {
  const std::string* dir = controller == "cpu"       ? &v1_cpu_dir_
                           : controller == "cpuacct" ? &v1_cpuacct_dir_
                           : controller == "memory"  ? &v1_memory_dir_
                           : controller == "blkio"   ? &v1_blkio_dir_
                                                     : nullptr;
  if (!dir || dir->empty()) return Error{"no v1 " + controller + " hierarchy on this host"};
  return write_file(*dir + "/" + file, value);
}

Status TestCgroup::limit_memory(std::uint64_t bytes) {
  if (!v1_memory_dir_.empty()) return write_file(v1_memory_dir_ + "/memory.limit_in_bytes", std::to_string(bytes));
  if (v2_dir_.empty()) return Error{"no memory controller on this host"};
  // v2: every ancestor below the root must delegate the memory controller.
  std::string rel = path_;
  std::vector<std::string> parents;
  while (rel.rfind('/') != 0 && rel.rfind('/') != std::string::npos) {
    rel.resize(rel.rfind('/'));
    parents.insert(parents.begin(), rel);
  }
  if (auto s = write_file(v2_root_ + "/cgroup.subtree_control", "+memory"); !s) return s;
  for (const auto& p : parents)
    if (auto s = write_file(v2_root_ + p + "/cgroup.subtree_control", "+memory"); !s) return s;
  return write_file(v2_dir_ + "/memory.max", std::to_string(bytes));
}

std::uint64_t TestCgroup::kernel_usage_ns() const {
  if (!v1_cpuacct_dir_.empty()) {
    const std::string s = read_all(v1_cpuacct_dir_ + "/cpuacct.usage");
    if (!s.empty()) return std::stoull(s);
  }
  std::istringstream stat(read_all(v2_dir_ + "/cpu.stat"));
  std::string key;
  std::uint64_t value = 0;
  while (stat >> key >> value)
    if (key == "usage_usec") return value * 1000;
  return 0;
}

namespace {

struct BurnConfig {
  BurnKind kind;
};

void* burn(void* arg) {
  const auto kind = static_cast<BurnConfig*>(arg)->kind;
  volatile std::uint64_t x = 0;
  for (;;) {
    if (kind == BurnKind::kSpin) {
      for (int i = 0; i < 1'000'000; ++i) x = x + i;
    } else {
      timespec start{}, now{};
      clock_gettime(CLOCK_MONOTONIC, &start);
      do {
        for (int i = 0; i < 1000; ++i) x = x + i;
        clock_gettime(CLOCK_MONOTONIC, &now);
      } while ((now.tv_sec - start.tv_sec) * 1'000'000'000L + (now.tv_nsec - start.tv_nsec) < 200'000);
      timespec pause{0, 1'000'000};
      nanosleep(&pause, nullptr);
    }
  }
  return nullptr;
}

}  // namespace

Result<std::unique_ptr<Burner>> Burner::start(TestCgroup& cgroup, int threads, int cpu, BurnKind kind) {
  int go[2];
  if (pipe(go) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    close(go[1]);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);  // wait until we are in the cgroup
    static BurnConfig config{kind};
    for (int i = 1; i < threads; ++i) {
      pthread_t t;
      pthread_create(&t, nullptr, burn, &config);
    }
    burn(&config);
    _exit(0);
  }
  close(go[0]);
  auto burner = std::make_unique<Burner>();
  burner->pid_ = pid;
  if (auto s = cgroup.add(pid); !s) {
    close(go[1]);
    return Error{s.error()};
  }
  const char c = 'g';
  const bool started = write(go[1], &c, 1) == 1;
  close(go[1]);
  if (!started) return Error{"burner did not start"};
  return burner;
}

void Burner::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Burner::~Burner() { stop(); }

Result<std::unique_ptr<Child>> Child::start(TestCgroup& cgroup, const std::vector<std::string>& argv) {
  int go[2], out[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(126);  // wait until we are in the cgroup
    dup2(out[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(go[0]);
  close(out[1]);
  auto child = std::make_unique<Child>();
  child->pid_ = pid;
  child->out_fd_ = out[0];
  if (auto s = cgroup.add(pid); !s) {
    close(go[1]);
    return Error{s.error()};
  }
  const char c = 'g';
  const bool started = write(go[1], &c, 1) == 1;
  close(go[1]);
  if (!started) return Error{"child did not start"};
  return child;
}

RunResult Child::wait() {
  RunResult r;
  if (pid_ <= 0) return r;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.out.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  close(out_fd_);
  out_fd_ = -1;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Child::~Child() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
}

Result<RunResult> run_in(TestCgroup& cgroup, const std::vector<std::string>& argv) {
  auto child = Child::start(cgroup, argv);
  if (!child) return Error{child.error()};
  return (*child)->wait();
}

ScopedSysctl::ScopedSysctl(std::string path, const std::string& value) : path_(std::move(path)) {
  old_ = read_all(path_);
  ok_ = !old_.empty() && write_file(path_, value).ok();
}

ScopedSysctl::~ScopedSysctl() {
  if (!old_.empty()) (void)write_file(path_, old_);
}

Result<int> run_function_in(TestCgroup& cgroup, int (*fn)(const std::string& arg), const std::string& arg) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(126);
    _exit(fn(arg));
  }
  close(go[0]);
  if (auto s = cgroup.add(pid); !s) {
    close(go[1]);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return Error{s.error()};
  }
  const char c = 'g';
  const bool started = write(go[1], &c, 1) == 1;
  close(go[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!started) return Error{"child did not start"};
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result<std::unique_ptr<TempFile>> TempFile::create(const std::string& name, std::uint64_t bytes) {
  auto f = std::make_unique<TempFile>();
  f->path_ = "/var/tmp/cgscope-test-" + std::to_string(getpid()) + "-" + name;
  const int fd = ::open(f->path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{"creating " + f->path_ + ": " + std::strerror(errno)};
  std::vector<char> block(1 << 20);
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (auto& b : block) b = static_cast<char>((x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
  for (std::uint64_t done = 0; done < bytes;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), bytes - done));
    if (::write(fd, block.data(), n) != static_cast<ssize_t>(n)) {
      ::close(fd);
      return Error{"writing " + f->path_ + ": " + std::strerror(errno)};
    }
    done += n;
  }
  fsync(fd);
  ::close(fd);
  return f;
}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

void drop_caches() {
  sync();
  (void)write_file("/proc/sys/vm/drop_caches", "3");
}

}  // namespace cgscope::test

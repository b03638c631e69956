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

}  // namespace

std::string bpf_test_prerequisites() {
  if (geteuid() != 0) return "needs root (loads eBPF programs, creates cgroups)";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "kernel has no BTF (/sys/kernel/btf/vmlinux)";
  return {};
}

Result<std::unique_ptr<TestCgroup>> TestCgroup::create(const collector::Hierarchy& h,
                                                       const std::string& relative_path) {
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
  return cg;
}

TestCgroup::~TestCgroup() {
  if (removed_) return;
  // Tasks should be gone; anything left over is moved to the root so rmdir can work.
  auto root_of = [](const std::string& dir, const std::string& rel) {
    return dir.substr(0, dir.size() - rel.size());
  };
  for (const std::string* dir : {&v2_dir_, &v1_cpu_dir_, &v1_cpuacct_dir_}) {
    if (dir->empty()) continue;
    move_all_to(*dir, root_of(*dir, path_) + "/cgroup.procs");
  }
  remove();
}

bool TestCgroup::remove() {
  bool ok = true;
  for (const std::string* dir : {&v2_dir_, &v1_cpu_dir_, &v1_cpuacct_dir_}) {
    if (dir->empty() || !fs::exists(*dir)) continue;
    // Children first (tests nest cgroups one level deep at most).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(*dir, ec))
      if (e.is_directory()) rmdir(e.path().c_str());
    if (rmdir(dir->c_str()) != 0 && errno != ENOENT) ok = false;
  }
  removed_ = ok;
  return ok;
}

std::uint64_t TestCgroup::v2_id() const { return inode_of(v2_dir_); }
std::uint64_t TestCgroup::v1_cpu_id() const { return inode_of(v1_cpu_dir_); }

Status TestCgroup::add(pid_t pid) {
  for (const std::string* dir : {&v2_dir_, &v1_cpu_dir_, &v1_cpuacct_dir_}) {
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

}  // namespace cgscope::test

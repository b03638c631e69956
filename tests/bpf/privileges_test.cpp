// Least privilege, read from the running process (issue 20): once its programs are attached a
// long-running command keeps no capability it does not still need, in any of its threads; and
// without privileges it names the capability it lacks.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bpf/helpers.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
constexpr std::uint64_t bit(int cap) { return std::uint64_t{1} << cap; }

// The capability sets of every thread of a process: thread id -> {"CapEff": mask, ...}.
std::map<std::string, std::map<std::string, std::uint64_t>> capabilities_of(pid_t pid) {
  std::map<std::string, std::map<std::string, std::uint64_t>> out;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "status");
    for (std::string line; std::getline(in, line);) {
      for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapAmb"}) {
        if (line.rfind(std::string(set) + ":", 0) == 0)
          out[task.path().filename()][set] = std::stoull(line.substr(line.find(':') + 1), nullptr, 16);
      }
    }
  }
  return out;
}

// A cgscope command with --ready-file, running until stop(): its capabilities once it is ready.
class Running {
 public:
  explicit Running(std::vector<std::string> args) {
    char dir_template[] = "/var/tmp/cgscope-caps-XXXXXX";
    if (!mkdtemp(dir_template)) return;
    dir_ = dir_template;
    const std::string ready = dir_ + "/ready";
    args.insert(args.begin(), CGSCOPE_BINARY);
    args.push_back("--ready-file");
    args.push_back(ready);
    pid_ = fork();
    if (pid_ == 0) {
      if (!freopen((dir_ + "/out").c_str(), "w", stdout) || !freopen((dir_ + "/err").c_str(), "w", stderr)) _exit(127);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 300 && access(ready.c_str(), F_OK) != 0; ++i) std::this_thread::sleep_for(100ms);
    ready_ = access(ready.c_str(), F_OK) == 0;
  }
  ~Running() {
    stop();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  std::string stderr_text() const {
    std::ifstream in(dir_ + "/err");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  int stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGINT);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  bool ready_ = false;
  int status_ = -1;
};

// No thread holds anything beyond `allowed` in any set, and the main thread (which loads
// later programs, e.g. NFS's) holds exactly `allowed`. Capabilities are per thread: a thread
// started before the drop keeps what it had unless it drops them itself.
void expect_capabilities(const Running& r, std::uint64_t allowed, const std::string& what) {
  const auto caps = capabilities_of(r.pid());
  ASSERT_FALSE(caps.empty());
  for (const auto& [tid, sets] : caps) {
    EXPECT_EQ(sets.at("CapEff") & ~allowed, 0u) << what << ": thread " << tid << " effective set";
    EXPECT_EQ(sets.at("CapPrm") & ~allowed, 0u) << what << ": thread " << tid << " permitted set";
    EXPECT_EQ(sets.at("CapInh"), 0u) << what << ": thread " << tid << " inheritable set";
    EXPECT_EQ(sets.at("CapAmb"), 0u) << what << ": thread " << tid << " ambient set";
  }
  const auto main = caps.find(std::to_string(r.pid()));
  ASSERT_NE(main, caps.end());
  EXPECT_EQ(main->second.at("CapEff"), allowed) << what << ": the main thread's effective set";
  std::printf("%s: %zu threads, none beyond %#llx\n", what.c_str(), caps.size(),
              static_cast<unsigned long long>(allowed));
}

TEST(PrivilegesTest, SnapshotKeepsNoCapabilityOnceAttached) {
  REQUIRE_BPF_PREREQUISITES();
  Running r({"snapshot", "-i", "60s", "-c", "0", "--json", "--bpf", "required", "--collectors", "cpu,io,memory"});
  ASSERT_TRUE(r.ready()) << r.stderr_text();
  expect_capabilities(r, 0, "snapshot without NFS");
  EXPECT_EQ(r.stop(), 0);
}

// The NFS collector attaches when the first NFS mount appears (there is none on this host): the
// process keeps what loading needs then, and nothing else.
TEST(PrivilegesTest, SnapshotWaitingForNfsKeepsOnlyWhatLoadingNeeds) {
  REQUIRE_BPF_PREREQUISITES();
  Running r({"snapshot", "-i", "60s", "-c", "0", "--json", "--bpf", "required"});
  ASSERT_TRUE(r.ready()) << r.stderr_text();
  expect_capabilities(r, bit(kCapSysAdmin) | bit(kCapBpf) | bit(kCapPerfmon), "snapshot waiting for NFS");
  EXPECT_EQ(r.stop(), 0);
}

TEST(PrivilegesTest, RecordKeepsNoCapabilityOnceTheFileIsOpen) {
  REQUIRE_BPF_PREREQUISITES();
  char path[] = "/var/tmp/cgscope-caps-rec-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  fs::remove(path);
  Running r({"record", "-o", path, "-i", "60s", "--collectors", "cpu"});
  ASSERT_TRUE(r.ready()) << r.stderr_text();
  expect_capabilities(r, 0, "record");
  EXPECT_EQ(r.stop(), 0);
  fs::remove(path);
}

TEST(PrivilegesTest, KeepCapabilitiesKeepsThem) {
  REQUIRE_BPF_PREREQUISITES();
  Running r({"snapshot", "-i", "60s", "-c", "0", "--json", "--collectors", "cpu", "--keep-capabilities"});
  ASSERT_TRUE(r.ready()) << r.stderr_text();
  const auto caps = capabilities_of(r.pid());
  const auto main = caps.find(std::to_string(r.pid()));
  ASSERT_NE(main, caps.end());
  EXPECT_NE(main->second.at("CapEff") & bit(kCapBpf), 0u) << "the main thread lost CAP_BPF despite --keep-capabilities";
}

// Without capabilities the load fails with what is missing, not a bare "Operation not
// permitted" (and not a verifier or kernel-support story).
TEST(PrivilegesTest, WithoutPrivilegesTheMissingCapabilitiesAreNamed) {
  REQUIRE_BPF_PREREQUISITES();
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is not installed";
  const std::string cmd = std::string("/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all ") +
                          CGSCOPE_BINARY + " snapshot --bpf required --collectors cpu -c 1 -i 1s 2>&1";
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  const int status = pclose(f);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("cgscope lacks CAP_BPF and CAP_PERFMON"), std::string::npos) << out;
}

}  // namespace

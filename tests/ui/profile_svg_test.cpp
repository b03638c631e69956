// The flame graph of a real profile, opened in headless Chromium: it parses, its script runs,
// the function names are in the DOM, and search and zoom (driven through the URL fragment,
// as a link would) do what they say.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/bpf/profile_test_util.hpp"
#include "tests/bpf/workload.hpp"

using namespace cgscope;
namespace fs = std::filesystem;

namespace {

std::string chromium_binary() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    if (test::run_command(std::string("command -v ") + name + " >/dev/null 2>&1").status == 0) return name;
  }
  return {};
}

class FlameGraphInChromium : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::bpf_test_prerequisites(); !why.empty()) GTEST_SKIP() << why;
    chromium_ = chromium_binary();
    if (chromium_.empty())
      GTEST_SKIP() << "chromium is not installed (Debian chromium; scripts/install-deps.sh)";
    dir_ = fs::temp_directory_path() / ("cgscope-ui-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // The DOM after load (scripts ran), from a fresh profile directory each time.
  std::string dump_dom(const fs::path& file, const std::string& fragment) {
    const fs::path profile = dir_ / ("chromium-" + std::to_string(runs_++));
    fs::create_directories(profile);
    const std::string cmd = "timeout 120 " + chromium_ +
                            " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                            " --disable-background-networking --disable-component-update --disable-sync"
                            " --user-data-dir=" +
                            profile.string() + " --dump-dom 'file://" + file.string() + "#" + fragment +
                            "' 2>/dev/null";
    auto r = test::run_command(cmd);
    EXPECT_EQ(r.status, 0) << cmd;
    return r.out;
  }

  std::string chromium_;
  fs::path dir_;
  int runs_ = 0;
};

}  // namespace

TEST_F(FlameGraphInChromium, OpensWithNamesAndSearchAndZoomWork) {
  auto h = collector::discover_hierarchy();
  ASSERT_TRUE(h.ok()) << h.error();
  auto cg = test::TestCgroup::create(*h, "/cgscope-ui-" + std::to_string(getpid()));
  ASSERT_TRUE(cg.ok()) << cg.error();
  auto prog = test::Program::start(**cg, {test::profile_target(), "spin"}, 0);
  ASSERT_TRUE(prog.ok()) << prog.error();
  const fs::path svg = dir_ / "cpu.svg";
  auto r = test::run_command(std::string(CGSCOPE_BINARY) + " profile --cgroup " + (*cg)->path() +
                             " -F 499 -d 3s -o " + svg.string() + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;

  const std::string dom = dump_dom(svg, "search=%5Espin_a%24");  // ^spin_a$
  ASSERT_NE(dom.find("data-ready=\"1\""), std::string::npos) << "the script did not run:\n"
                                                             << dom.substr(0, 2000);
  EXPECT_EQ(dom.find("parsererror"), std::string::npos) << "Chromium could not parse the SVG";
  EXPECT_NE(dom.find("<title>spin_a ("), std::string::npos);
  EXPECT_NE(dom.find("<title>spin_b ("), std::string::npos);
  EXPECT_NE(dom.find("<title>" + (*cg)->path() + " ("), std::string::npos);
  // Search: spin_a does 3 of every 4 units of work, so about 75% of the graph matches.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex(R"(Matched: ([\d.]+)% \((\d+) frames\))")))
      << dom.substr(0, 2000);
  EXPECT_NEAR(std::stod(m[1]), 75.0, 15.0);
  EXPECT_GE(std::stoi(m[2]), 1);
  EXPECT_NE(dom.find("data-match=\"1\""), std::string::npos);

  // Zoom into spin_b: spin_b fills the width, spin_a (not in its subtree) is hidden.
  const std::string zoomed = dump_dom(svg, "zoom=spin_b");
  EXPECT_NE(zoomed.find("data-zoomed=\"spin_b\""), std::string::npos);
  const std::regex frame_of(R"re(<g ([^>]*)><title>(spin_a|spin_b) \()re");
  std::map<std::string, std::string> attrs;
  for (auto it = std::sregex_iterator(zoomed.begin(), zoomed.end(), frame_of); it != std::sregex_iterator();
       ++it)
    attrs[(*it)[2]] += (*it)[1].str() + " ";
  EXPECT_NE(attrs["spin_a"].find("hide"), std::string::npos) << attrs["spin_a"];
  EXPECT_EQ(attrs["spin_b"].find("hide"), std::string::npos) << attrs["spin_b"];
  const std::regex spin_b_rect(
      R"re(<title>spin_b \([^<]*</title><rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)")re");
  ASSERT_TRUE(std::regex_search(zoomed, m, spin_b_rect));
  EXPECT_NEAR(std::stod(m[1]), 10.0, 0.5);    // the left padding
  EXPECT_NEAR(std::stod(m[2]), 1180.0, 1.0);  // the full width
}

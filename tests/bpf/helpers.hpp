// Shared by the root test suites: prerequisites, the host's hierarchy, pipelines and samples.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "collector/pipeline.hpp"
#include "model/snapshot.hpp"
#include "tests/bpf/workload.hpp"

#define REQUIRE_BPF_PREREQUISITES()                              \
  do {                                                           \
    if (auto why = cgscope::test::bpf_test_prerequisites(); !why.empty()) \
      GTEST_SKIP() << why;                                       \
  } while (0)

namespace cgscope::test {

inline collector::Hierarchy host_hierarchy() {
  auto h = collector::discover_hierarchy();
  EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error());
  return h.ok() ? *h : collector::Hierarchy{};
}

// Parent of every cgroup one test process creates (removed with its last child).
inline std::string unique_root() { return "/cgscope-test-" + std::to_string(getpid()); }

inline std::unique_ptr<collector::Pipeline> make_pipeline(collector::PipelineOptions options) {
  options.bpf = collector::BpfPolicy::kRequired;
  auto p = collector::Pipeline::create(options);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error());
  return p.ok() ? std::move(*p) : nullptr;
}

inline model::Sample take(collector::Pipeline& p) {
  auto s = p.sample();
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
  return s.ok() ? std::move(*s) : model::Sample{};
}

inline const model::CgroupInterval* find(const model::Snapshot& s, std::uint64_t id) {
  for (const auto& cg : s.cgroups)
    if (cg.identity.id == id) return &cg;
  return nullptr;
}

inline const model::CollectorStatus* status_of(const model::Sample& s, const std::string& name) {
  for (const auto& c : s.collectors)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace cgscope::test

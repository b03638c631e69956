// A program the kernel's verifier rejects reaches the user as the verifier's verdict, in the
// kernel's words, never as a missing capability (issue 25).
#include <gtest/gtest.h>

#include <bpf/libbpf.h>

#include <string>

#include "collector/bpf_util.hpp"
#include "rejected.skel.h"
#include "tests/bpf/helpers.hpp"

using namespace cgscope;

namespace {

TEST(LoadFailureBpfTest, TheVerifiersVerdictReachesTheUser) {
  REQUIRE_BPF_PREREQUISITES();
  rejected_bpf* skel = rejected_bpf__open();
  ASSERT_NE(skel, nullptr);
  std::string msg;
  {
    collector::LoadLog log;
    const int err = rejected_bpf__load(skel);
    ASSERT_NE(err, 0) << "the kernel accepted a program that dereferences a map value without a NULL check";
    msg = log.explain(err);
  }
  rejected_bpf__destroy(skel);
  EXPECT_EQ(msg.rfind("the kernel's verifier rejected program rejected_switch on " + collector::kernel_release() + ": ", 0),
            0u)
      << msg;
  EXPECT_NE(msg.find("map_value_or_null"), std::string::npos) << "the verifier's own words: " << msg;
  EXPECT_EQ(msg.find("CAP_BPF"), std::string::npos) << msg;
}

}  // namespace

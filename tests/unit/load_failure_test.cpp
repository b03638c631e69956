// Why a BPF load failed, told from libbpf's messages: the verifier's verdict, a CO-RE
// relocation that does not fit the kernel, or a missing capability (issue 25).
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "collector/bpf_util.hpp"

using cgscope::collector::explain_load_failure;

namespace {

// What libbpf 1.1 printed on Debian's 6.12 for the NFS collector before the NULL checks.
const char* kVerifierLog =
    "libbpf: prog 'nfs_revalidate_inode_exit': BPF program load failed: Permission denied\n"
    "libbpf: prog 'nfs_revalidate_inode_exit': -- BEGIN PROG LOAD LOG --\n"
    "0: R1=ctx() R10=fp0\n"
    "; int BPF_PROG(nfs_revalidate_inode_exit, const struct inode *inode, int error) @ nfs.bpf.c:238\n"
    "0: (79) r8 = *(u64 *)(r1 +0)          ; R1=ctx() R8_w=trusted_ptr_or_null_inode(id=1)\n"
    "; return inode->i_sb->s_dev; @ nfs.bpf.c:240\n"
    "1: (79) r1 = *(u64 *)(r8 +40)\n"
    "R8 invalid mem access 'trusted_ptr_or_null_'\n"
    "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
    "-- END PROG LOAD LOG --\n"
    "libbpf: prog 'nfs_revalidate_inode_exit': failed to load: -13\n"
    "libbpf: failed to load object 'nfs_bpf'\n";

TEST(LoadFailureTest, AVerifierRejectionSaysSoAndNotCapabilities) {
  const std::string msg = explain_load_failure(-EACCES, kVerifierLog, "6.12.118+deb12-amd64", true, "");
  EXPECT_EQ(msg.rfind("the kernel's verifier rejected program nfs_revalidate_inode_exit on 6.12.118+deb12-amd64: "
                      "R8 invalid mem access 'trusted_ptr_or_null_'",
                      0),
            0u)
      << msg;
  EXPECT_NE(msg.find("return inode->i_sb->s_dev;"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-v"), std::string::npos) << "what the user can do: " << msg;
  EXPECT_EQ(msg.find("CAP_BPF"), std::string::npos) << msg;
}

TEST(LoadFailureTest, AVerifierRejectionIsNotBlamedOnCapabilitiesEvenWithoutThem) {
  // The verifier ran, so the capabilities were enough to get that far.
  const std::string msg = explain_load_failure(-EACCES, kVerifierLog, "6.12.1", false, "CAP_BPF");
  EXPECT_NE(msg.find("verifier rejected"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("CAP_BPF"), std::string::npos) << msg;
}

TEST(LoadFailureTest, AnUnresolvedCoreRelocationNamesTheField) {
  const std::string log =
      "libbpf: prog 'cache_add': BPF program load failed: Invalid argument\n"
      "libbpf: prog 'cache_add': -- BEGIN PROG LOAD LOG --\n"
      "0: R1=ctx() R10=fp0\n"
      "12: <invalid CO-RE relocation>\n"
      "failed to resolve CO-RE relocation <byte_off> [1234] struct folio.flags (0:0 @ offset 0)\n"
      "processed 13 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1\n"
      "-- END PROG LOAD LOG --\n"
      "libbpf: prog 'cache_add': failed to load: -22\n";
  const std::string msg = explain_load_failure(-EINVAL, log, "6.12.1", true, "");
  EXPECT_EQ(msg.rfind("program cache_add does not fit the kernel's data structures on 6.12.1: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("struct folio.flags"), std::string::npos) << msg;
}

TEST(LoadFailureTest, ARelocationLibbpfCouldNotResolveBeforeLoading) {
  const std::string log =
      "libbpf: prog 'io_issue': relo #3: kind <byte_off> (0), spec is [99] struct request.rq_disk (0:1 @ offset 8)\n"
      "libbpf: prog 'io_issue': relo #3: failed to relocate: -22\n";
  const std::string msg = explain_load_failure(-EINVAL, log, "6.1.0-57-amd64", true, "");
  EXPECT_NE(msg.find("program io_issue does not fit the kernel's data structures on 6.1.0-57-amd64"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("struct request.rq_disk"), std::string::npos) << msg;
}

TEST(LoadFailureTest, PermissionDeniedWithoutCapabilitiesNamesTheMissingOnes) {
  const std::string msg = explain_load_failure(-EPERM, "libbpf: prog 'x': BPF program load failed: Operation not permitted\n",
                                               "6.1.0", false, "CAP_BPF and CAP_PERFMON");
  EXPECT_NE(msg.find("lacks CAP_BPF and CAP_PERFMON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("run as root"), std::string::npos) << msg;
}

TEST(LoadFailureTest, PermissionDeniedWithCapabilitiesIsNotBlamedOnThem) {
  const std::string msg = explain_load_failure(-EPERM, "", "6.1.0", true, "");
  EXPECT_EQ(msg.find("need CAP_BPF"), std::string::npos) << msg;
  EXPECT_NE(msg.find("although cgscope holds CAP_BPF and CAP_PERFMON"), std::string::npos) << msg;
}

TEST(LoadFailureTest, AMissingAttachPointIsNamed) {
  const std::string log =
      "libbpf: prog 'nfs_sillyrename_rename': failed to find kernel BTF type ID of 'nfs_sillyrename_rename': -3\n"
      "libbpf: prog 'nfs_sillyrename_rename': failed to prepare load attributes: -3\n";
  const std::string msg = explain_load_failure(-ESRCH, log, "6.12.118+deb12-amd64", true, "");
  EXPECT_EQ(msg, "this kernel (6.12.118+deb12-amd64) has no tracepoint or function nfs_sillyrename_rename for program "
                 "nfs_sillyrename_rename");
}

TEST(LoadFailureTest, OtherErrorsKeepTheirExplanation) {
  const std::string msg = explain_load_failure(-ENOENT, "", "6.1.0", true, "");
  EXPECT_NE(msg.find("lacks this probe point"), std::string::npos) << msg;
}

}  // namespace

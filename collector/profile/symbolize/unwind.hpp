// Unwinding a copied user stack (--unwind dwarf): from the registers and the top of the stack
// that the profiler copied at a sample, find each caller's return address with the rules of
// the binaries' call frame information (.eh_frame / .debug_frame), as exception handling does.
// Code without CFI (JIT code, hand-written assembly) is stepped by its frame pointer, when it
// keeps one. Pure logic: where the rules come from is the caller's business (ElfModule reads
// them with libdw), so this part is tested with rules written by hand.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "collector/profile/profile.hpp"

namespace cgscope::collector {

// x86-64 DWARF register numbers.
inline constexpr int kDwarfRbx = 3, kDwarfRbp = 6, kDwarfRsp = 7, kDwarfRip = 16;
inline constexpr int kUnwindRegs = 17;

// A DWARF expression (the subset CFI uses: registers, constants, arithmetic, comparisons,
// dereference; e.g. the CFA of a PLT entry).
struct DwarfOp {
  std::uint8_t atom = 0;
  std::uint64_t number = 0, number2 = 0;
};
using DwarfExpr = std::vector<DwarfOp>;

// What CFI says about one caller register.
struct RegisterRule {
  enum Kind : std::uint8_t {
    kUndefined,  // not recoverable (caller-saved); for the return address: the outermost frame
    kSameValue,  // this frame did not change it
    kAt,         // saved in memory at the address `expr` computes
    kValue,      // its value is what `expr` computes
  } kind = kUndefined;
  DwarfExpr expr;  // may use DW_OP_call_frame_cfa
};

// The rules at one instruction: how to compute the CFA (the caller's stack pointer) and the
// caller's callee-saved registers and return address.
struct FrameRules {
  DwarfExpr cfa;
  RegisterRule rbx, rbp, r12, r13, r14, r15, return_address;
};

// Where an unwind stopped.
enum class UnwindStop : std::uint8_t {
  kOutermost,     // CFI marks the thread's first frame (_start, clone): complete
  kEndOfCopy,     // the next frame lies above the copied part of the stack
  kNoUnwindInfo,  // code with neither CFI nor a frame pointer to follow
  kUnmapped,      // an address outside any executable mapping (a bad return address)
  kBadRules,      // the rules could not be evaluated (an unknown register or operation)
  kNoProgress,    // the stack pointer did not move up: a loop
  kDepthLimit,    // PROFILE_MAX_STACK_DEPTH frames
  kCount,
};
std::string_view to_string(UnwindStop stop);

// What is known about the code at an address.
struct CodeAt {
  bool mapped = false;                // inside an executable mapping of the process
  // CFI, when its binary has some for this address; needs to stay valid only until the next
  // lookup (the unwinder uses it before it asks again), so it can point into a cache.
  const FrameRules* rules = nullptr;
};
// `lookup` is the address to look up: the sampled IP for the leaf, the return address - 1 for
// callers (the call instruction, which may be the last of a function).
using CodeLookup = std::function<CodeAt(std::uint64_t lookup)>;

struct UnwindOutcome {
  std::vector<std::uint64_t> ips;  // leaf first; return addresses as found
  UnwindMethod method = UnwindMethod::kDwarf;
  UnwindStop stop = UnwindStop::kOutermost;
  std::uint64_t stop_ip = 0;  // the frame where it stopped
};

UnwindOutcome unwind_stack(const StackSample& sample, const CodeLookup& code,
                           std::size_t max_depth = 127);

}  // namespace cgscope::collector

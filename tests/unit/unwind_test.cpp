// unwind_stack() on stacks and CFI rules built by hand: each test lays out a copied stack
// (addresses from kStackBase up), the sampled registers, and a fake process whose functions
// have .eh_frame-like rules (or none: JIT code), then checks the return addresses found and
// why the walk stopped. Rules are written the way ElfModule hands them over from libdw:
// "saved at CFA+N" is DW_OP_call_frame_cfa; DW_OP_plus_uconst N, a CFA of "rsp+N" is
// DW_OP_bregx 7 N (or DW_OP_breg7 N), and a val_expression has its DW_OP_stack_value removed.
#include "collector/profile/symbolize/unwind.hpp"

#include <dwarf.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <optional>
#include <ostream>
#include <vector>

using namespace cgscope::collector;

namespace cgscope::collector {
// Names instead of byte values in failure messages.
void PrintTo(UnwindStop stop, std::ostream* os) { *os << to_string(stop); }
void PrintTo(UnwindMethod method, std::ostream* os) { *os << to_string(method); }
}  // namespace cgscope::collector

namespace {

constexpr std::uint64_t kStackBase = 0x7ffc'0000'1000;  // the sampled rsp

std::vector<std::uint64_t> ips(std::initializer_list<std::uint64_t> list) { return list; }

// ---- DWARF expressions and rules, as libdw produces them ----

DwarfOp op(std::uint8_t atom, std::uint64_t number = 0, std::uint64_t number2 = 0) {
  return {atom, number, number2};
}
// DW_OP_bregN offset: register N plus a signed offset.
DwarfOp breg(int reg, std::int64_t offset) {
  return op(static_cast<std::uint8_t>(DW_OP_breg0 + reg), static_cast<std::uint64_t>(offset));
}
// The CFA rule libdw gives for DW_CFA_def_cfa: DW_OP_bregx reg offset.
DwarfExpr cfa_bregx(int reg, std::int64_t offset) {
  return {op(DW_OP_bregx, static_cast<std::uint64_t>(reg), static_cast<std::uint64_t>(offset))};
}
RegisterRule undefined() { return {RegisterRule::kUndefined, {}}; }
RegisterRule same_value() { return {RegisterRule::kSameValue, {}}; }
// DW_CFA_offset: saved at CFA + offset (offsets are negative; plus_uconst wraps).
RegisterRule at_cfa(std::int64_t offset) {
  return {RegisterRule::kAt,
          {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, static_cast<std::uint64_t>(offset))}};
}
RegisterRule value_of(DwarfExpr expr) { return {RegisterRule::kValue, std::move(expr)}; }

// The CIE defaults of x86-64 code: callee-saved registers keep their values.
FrameRules base_rules() {
  FrameRules r;
  r.rbx = r.rbp = r.r12 = r.r13 = r.r14 = r.r15 = same_value();
  return r;
}
// A leaf (or any function before its first push): CFA = rsp+8, return address at CFA-8.
FrameRules leaf_rules() {
  FrameRules r = base_rules();
  r.cfa = {breg(kDwarfRsp, 8)};
  r.return_address = at_cfa(-8);
  return r;
}
// After `push %rbp`: CFA = rsp+16, rbp at CFA-16, return address at CFA-8.
FrameRules pushed_rbp_rules() {
  FrameRules r = base_rules();
  r.cfa = cfa_bregx(kDwarfRsp, 16);
  r.rbp = at_cfa(-16);
  r.return_address = at_cfa(-8);
  return r;
}
// The body of a function built with frame pointers: CFA = rbp+16.
FrameRules frame_pointer_body_rules() {
  FrameRules r = base_rules();
  r.cfa = {breg(kDwarfRbp, 16)};
  r.rbp = at_cfa(-16);
  r.return_address = at_cfa(-8);
  return r;
}
// _start / clone: CFI marks the return address undefined.
FrameRules outermost_rules() {
  FrameRules r = base_rules();
  r.cfa = {breg(kDwarfRsp, 8)};
  r.return_address = undefined();
  return r;
}

// ---- A fake process: functions with their rules, and what the unwinder asked ----

struct Function {
  std::uint64_t start, end;
  std::optional<FrameRules> rules;  // nullopt: mapped code without CFI (JIT)
};

class FakeProcess {
 public:
  void add(std::uint64_t start, std::uint64_t end, std::optional<FrameRules> rules) {
    functions_.push_back({start, end, std::move(rules)});
  }
  CodeLookup lookup() {
    return [this](std::uint64_t addr) {
      queries.push_back(addr);
      CodeAt at;
      for (const Function& f : functions_) {
        if (addr >= f.start && addr < f.end) {
          at.mapped = true;
          at.rules = f.rules ? &*f.rules : nullptr;
        }
      }
      return at;
    };
  }
  std::vector<std::uint64_t> queries;  // every address looked up, in order

 private:
  std::vector<Function> functions_;
};

// ---- The sample: registers and the copied stack ----

class FakeSample {
 public:
  explicit FakeSample(std::size_t stack_bytes) : bytes_(stack_bytes, 0) {
    // Recognisable values in every register, so a register taken from the wrong place shows.
    for (int r = 0; r < kUnwindRegs; ++r) regs_[r] = 0x1111'0000 + r;
    regs_[kDwarfRsp] = kStackBase;
  }
  void set_reg(int reg, std::uint64_t value) { regs_[reg] = value; }
  void set_ip(std::uint64_t ip) { regs_[kDwarfRip] = ip; }
  // Stores one 8-byte word at an absolute stack address inside the copy.
  void put(std::uint64_t addr, std::uint64_t value) {
    ASSERT_GE(addr, kStackBase);
    ASSERT_LE(addr - kStackBase + 8, bytes_.size());
    std::memcpy(bytes_.data() + (addr - kStackBase), &value, 8);
  }
  StackSample sample() const {
    StackSample s;
    s.tgid = 42;
    s.regs = regs_.data();
    s.stack = bytes_.data();
    s.stack_bytes = bytes_.size();
    return s;
  }

 private:
  std::array<std::uint64_t, kUnwindRegs> regs_{};
  std::vector<std::uint8_t> bytes_;
};

// Code of the tests: A (leaf), B (pushes rbp, calls A as its last instruction), N (just after
// B, with rules that never make progress: looked up only if the unwinder forgets the `- 1`),
// C (_start), J (JIT code without CFI), U (an address no mapping holds).
constexpr std::uint64_t kAStart = 0x401000, kAEnd = 0x401040, kAIp = 0x401010;
constexpr std::uint64_t kBStart = 0x401100, kBEnd = 0x401180;
constexpr std::uint64_t kBCallsA = kBEnd;  // return address: the first byte after B
constexpr std::uint64_t kNStart = 0x401180, kNEnd = 0x401200;
constexpr std::uint64_t kCStart = 0x400800, kCEnd = 0x400900, kCCallsB = 0x400850;
constexpr std::uint64_t kJStart = 0x7f00'1000'0000, kJEnd = 0x7f00'1000'1000, kJIp = 0x7f00'1000'0420;
constexpr std::uint64_t kUnmappedAddr = 0x5555'dead'0000;

FrameRules no_progress_rules() {
  FrameRules r = leaf_rules();
  r.cfa = {breg(kDwarfRsp, 0)};
  return r;
}

FakeProcess standard_process() {
  FakeProcess p;
  p.add(kAStart, kAEnd, leaf_rules());
  p.add(kBStart, kBEnd, pushed_rbp_rules());
  p.add(kNStart, kNEnd, no_progress_rules());
  p.add(kCStart, kCEnd, outermost_rules());
  p.add(kJStart, kJEnd, std::nullopt);
  return p;
}

}  // namespace

// A (leaf, CFA = rsp+8) <- B (CFA = rsp+16, rbp pushed) <- C (_start, return address undefined).
//   S+0  : return into B        (A's CFA = S+8)
//   S+8  : B's saved rbp
//   S+16 : return into C        (B's CFA = S+24)
//   S+24 : C's frame            (C's CFA = S+32)
TEST(UnwindTest, ThreeFramesOfEhFrameRulesEndAtTheOutermostFrame) {
  FakeProcess process = standard_process();
  FakeSample s(64);
  s.set_ip(kAIp);
  s.put(kStackBase + 0, kBCallsA);
  s.put(kStackBase + 8, 0x7ffc'0000'2000);
  s.put(kStackBase + 16, kCCallsB);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kAIp, kBCallsA, kCCallsB}));
  EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  EXPECT_EQ(out.stop_ip, kCCallsB);
  EXPECT_EQ(out.method, UnwindMethod::kDwarf);
  // The leaf is looked up at its IP, callers at the call instruction (return address - 1):
  // B's call is its last instruction, so its return address is already the next function N.
  EXPECT_EQ(process.queries, ips({kAIp, kBCallsA - 1, kCCallsB - 1}));
}

// The rbp that B saved is what its caller's CFA (rbp+16) is computed from.
TEST(UnwindTest, RestoresSavedRbpForACallerThatUsesFramePointerRules) {
  constexpr std::uint64_t kDStart = 0x402000, kDEnd = 0x402100, kDCallsB = 0x402040;
  FakeProcess process = standard_process();
  process.add(kDStart, kDEnd, frame_pointer_body_rules());
  FakeSample s(128);
  s.set_ip(kAIp);
  s.set_reg(kDwarfRbp, 0xbad);  // A and B do not use the sampled rbp
  // A: CFA S+8; B: CFA S+24, rbp saved at S+8 = S+64 (D's frame base).
  s.put(kStackBase + 0, kBCallsA);
  s.put(kStackBase + 8, kStackBase + 64);
  s.put(kStackBase + 16, kDCallsB);
  // D: CFA = rbp+16 = S+80, return address at S+72, its caller's rbp at S+64.
  s.put(kStackBase + 64, 0);
  s.put(kStackBase + 72, kCCallsB);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kAIp, kBCallsA, kDCallsB, kCCallsB}));
  EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  EXPECT_EQ(out.method, UnwindMethod::kDwarf);
}

// Each callee-saved register restored by its own rule (not another's): the caller's CFA is
// computed from that register alone; a wrong register gives a wrong CFA or no CFA at all.
TEST(UnwindTest, RestoresEachCalleeSavedRegisterFromItsOwnRule) {
  constexpr std::uint64_t kDStart = 0x402000, kDEnd = 0x402100, kDCallsA = 0x402040;
  for (int reg : {kDwarfRbx, kDwarfRbp, 12, 13, 14, 15}) {
    SCOPED_TRACE(reg);
    FrameRules a = leaf_rules();
    a.cfa = {breg(kDwarfRsp, 16)};
    RegisterRule* rule = reg == kDwarfRbx   ? &a.rbx
                         : reg == kDwarfRbp ? &a.rbp
                         : reg == 12        ? &a.r12
                         : reg == 13        ? &a.r13
                         : reg == 14        ? &a.r14
                                            : &a.r15;
    *rule = at_cfa(-16);
    FrameRules d = base_rules();
    d.cfa = {breg(reg, 0)};
    d.return_address = at_cfa(-8);

    FakeProcess process;
    process.add(kAStart, kAEnd, a);
    process.add(kDStart, kDEnd, d);
    process.add(kCStart, kCEnd, outermost_rules());
    FakeSample s(128);
    s.set_ip(kAIp);
    s.put(kStackBase + 0, kStackBase + 96);  // the saved register, at CFA-16 = S+0
    s.put(kStackBase + 8, kDCallsA);
    s.put(kStackBase + 88, kCCallsB);  // D's return address at its CFA (S+96) - 8

    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

    EXPECT_EQ(out.ips, ips({kAIp, kDCallsA, kCCallsB}));
    EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  }
}

// A (CFI) <- J (JIT code, no CFI, keeps a frame pointer) <- B (CFI) <- C (_start).
//   S+0  : return into J         (A's CFA = S+8)
//   S+8  : J's locals; rbp = S+16 while in J
//   S+16 : B's rbp (saved by J)  S+24: return into B  (J's CFA = rbp+16 = S+32)
//   S+32 : B's caller's rbp      S+40: return into C  (B's CFA = S+48)
TEST(UnwindTest, CodeWithoutCfiIsSteppedByItsFramePointerAndCfiResumesAfterIt) {
  constexpr std::uint64_t kBIp = kBStart + 0x20;
  FakeProcess process = standard_process();
  FakeSample s(64);
  s.set_ip(kAIp);
  s.set_reg(kDwarfRbp, kStackBase + 16);  // J's frame pointer, untouched by the leaf A
  s.put(kStackBase + 0, kJIp);
  s.put(kStackBase + 16, 0x7ffc'0000'3000);
  s.put(kStackBase + 24, kBIp);
  s.put(kStackBase + 32, 0x7ffc'0000'4000);
  s.put(kStackBase + 40, kCCallsB);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kAIp, kJIp, kBIp, kCCallsB}));
  EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  EXPECT_EQ(out.stop_ip, kCCallsB);
  EXPECT_EQ(out.method, UnwindMethod::kDwarfAndFp);
  EXPECT_EQ(process.queries, ips({kAIp, kJIp - 1, kBIp - 1, kCCallsB - 1}));
}

// The frame pointer step keeps rbx and r12-r15 (callee-saved: JIT code preserves them too),
// so a CFI caller whose CFA uses one of them still unwinds.
TEST(UnwindTest, FramePointerStepKeepsCalleeSavedRegisters) {
  constexpr std::uint64_t kDStart = 0x402000, kDEnd = 0x402100, kDIp = 0x402040;
  FrameRules d = base_rules();
  d.cfa = {breg(13, 8)};  // as after a stack realignment: CFA from r13
  d.return_address = at_cfa(-8);
  FakeProcess process = standard_process();
  process.add(kDStart, kDEnd, d);
  FakeSample s(64);
  s.set_ip(kJIp);  // the leaf is the JIT code
  s.set_reg(kDwarfRbp, kStackBase + 8);
  s.set_reg(13, kStackBase + 40);
  s.put(kStackBase + 8, 0);
  s.put(kStackBase + 16, kDIp);
  s.put(kStackBase + 40, kCCallsB);  // D's CFA = r13+8 = S+48, return address at S+40

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kJIp, kDIp, kCCallsB}));
  EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  EXPECT_EQ(out.method, UnwindMethod::kDwarfAndFp);
}

TEST(UnwindTest, CodeWithoutCfiOrFramePointerStopsWithNoUnwindInfo) {
  for (std::uint64_t rbp : {std::uint64_t{0}, kStackBase - 16}) {  // none, or below the stack pointer
    SCOPED_TRACE(rbp);
    FakeProcess process = standard_process();
    FakeSample s(64);
    s.set_ip(kAIp);
    s.set_reg(kDwarfRbp, rbp);
    s.put(kStackBase + 0, kJIp);

    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

    EXPECT_EQ(out.ips, ips({kAIp, kJIp}));
    EXPECT_EQ(out.stop, UnwindStop::kNoUnwindInfo);
    EXPECT_EQ(out.stop_ip, kJIp);
  }
}

// A frame pointer above the copy: the chain goes on, we just do not have those bytes.
TEST(UnwindTest, FramePointerAboveTheCopyStopsAtEndOfCopy) {
  FakeProcess process = standard_process();
  FakeSample s(64);
  s.set_ip(kJIp);
  s.set_reg(kDwarfRbp, kStackBase + 4096);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kJIp}));
  EXPECT_EQ(out.stop, UnwindStop::kEndOfCopy);
  EXPECT_EQ(out.stop_ip, kJIp);
}

// B's frame is larger than the copy: its return address (at CFA-8 = S+0x208) was not copied.
TEST(UnwindTest, ReturnAddressBeyondTheCopyStopsAtEndOfCopyKeepingEarlierFrames) {
  FakeProcess process = standard_process();
  FrameRules big = pushed_rbp_rules();
  big.cfa = cfa_bregx(kDwarfRsp, 0x208);
  constexpr std::uint64_t kEStart = 0x403000, kEEnd = 0x403100, kECallsA = 0x403080;
  process.add(kEStart, kEEnd, big);
  FakeSample s(64);
  s.set_ip(kAIp);
  s.put(kStackBase + 0, kECallsA);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kAIp, kECallsA}));
  EXPECT_EQ(out.stop, UnwindStop::kEndOfCopy);
  EXPECT_EQ(out.stop_ip, kECallsA);
}

// The last 8 bytes of the copy are readable; one byte further is not.
TEST(UnwindTest, ReturnAddressInTheLastWordOfTheCopyIsRead) {
  FakeProcess process = standard_process();
  FakeSample s(24);  // A: CFA S+8; B: CFA S+24, return address at S+16..S+24 (the last word)
  s.set_ip(kAIp);
  s.put(kStackBase + 0, kBCallsA);
  s.put(kStackBase + 16, kCCallsB);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());
  EXPECT_EQ(out.ips, ips({kAIp, kBCallsA, kCCallsB}));
  // C's CFA needs no memory, and its return address is undefined: complete.
  EXPECT_EQ(out.stop, UnwindStop::kOutermost);

  FakeSample short_copy(23);
  short_copy.set_ip(kAIp);
  short_copy.put(kStackBase + 0, kBCallsA);
  const UnwindOutcome cut = unwind_stack(short_copy.sample(), process.lookup());
  EXPECT_EQ(cut.ips, ips({kAIp, kBCallsA}));
  EXPECT_EQ(cut.stop, UnwindStop::kEndOfCopy);
}

TEST(UnwindTest, ReturnAddressOutsideAnyMappingStopsAndIsNotReported) {
  FakeProcess process = standard_process();
  FakeSample s(64);
  s.set_ip(kAIp);
  s.put(kStackBase + 0, kBCallsA);
  s.put(kStackBase + 16, kUnmappedAddr);  // garbage where B's return address should be

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kAIp, kBCallsA}));
  EXPECT_EQ(out.stop, UnwindStop::kUnmapped);
  EXPECT_EQ(out.stop_ip, kUnmappedAddr);
}

// A sampled IP is real even where no mapping is known (e.g. a mapping made after the
// process's maps were read): kept, and nothing more can be done.
TEST(UnwindTest, UnmappedLeafIpIsKept) {
  FakeProcess process = standard_process();
  FakeSample s(64);
  s.set_ip(kUnmappedAddr);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kUnmappedAddr}));
  EXPECT_EQ(out.stop, UnwindStop::kUnmapped);
  EXPECT_EQ(out.stop_ip, kUnmappedAddr);
  EXPECT_EQ(process.queries, ips({kUnmappedAddr}));
}

// Some thread entries end the frame chain with a null return address instead of CFI.
TEST(UnwindTest, NullReturnAddressIsTheOutermostFrame) {
  FakeProcess process = standard_process();
  FakeSample s(64);
  s.set_ip(kAIp);
  s.put(kStackBase + 0, kBCallsA);
  s.put(kStackBase + 16, 0);

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({kAIp, kBCallsA}));
  EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  EXPECT_EQ(out.stop_ip, kBCallsA);
}

// R calls itself; each frame is 32 bytes (CFA = rsp+32), all on the copy: the depth limit
// ends the walk, not the copy.
TEST(UnwindTest, DeepRecursionStopsAtMaxDepth) {
  constexpr std::uint64_t kRStart = 0x404000, kREnd = 0x404100, kRIp = 0x404010, kRCallsR = 0x404060;
  FrameRules r = leaf_rules();
  r.cfa = {breg(kDwarfRsp, 32)};
  FakeProcess process = standard_process();
  process.add(kRStart, kREnd, r);
  constexpr int kFrames = 300;
  FakeSample s(32 * kFrames);
  s.set_ip(kRIp);
  for (int i = 0; i < kFrames; ++i) s.put(kStackBase + 32 * i + 24, kRCallsR);

  const UnwindOutcome five = unwind_stack(s.sample(), process.lookup(), 5);
  EXPECT_EQ(five.ips, ips({kRIp, kRCallsR, kRCallsR, kRCallsR, kRCallsR}));
  EXPECT_EQ(five.stop, UnwindStop::kDepthLimit);
  EXPECT_EQ(five.stop_ip, kRCallsR);

  const UnwindOutcome deflt = unwind_stack(s.sample(), process.lookup());
  EXPECT_EQ(deflt.ips.size(), 127u);  // PROFILE_MAX_STACK_DEPTH
  EXPECT_EQ(deflt.stop, UnwindStop::kDepthLimit);
}

// A CFA that is not above the stack pointer would walk the same frame forever.
TEST(UnwindTest, CfaNotAboveTheStackPointerStopsWithNoProgress) {
  FakeSample s(64);
  s.set_ip(kAIp);
  s.put(kStackBase + 0, kBCallsA);

  {  // CFA = rsp+0, the return address at CFA+0 (readable): the loop check must catch it.
    FrameRules a = leaf_rules();
    a.cfa = {breg(kDwarfRsp, 0)};
    a.return_address = at_cfa(0);
    FakeProcess process;
    process.add(kAStart, kAEnd, a);
    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());
    EXPECT_EQ(out.ips, ips({kAIp}));
    EXPECT_EQ(out.stop, UnwindStop::kNoProgress);
    EXPECT_EQ(out.stop_ip, kAIp);
  }
  {  // Typical rules with a broken CFA: CFA = rsp+0, return address at CFA-8 (below rsp).
    FrameRules a = leaf_rules();
    a.cfa = {breg(kDwarfRsp, 0)};
    FakeProcess process;
    process.add(kAStart, kAEnd, a);
    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());
    EXPECT_EQ(out.ips, ips({kAIp}));
    EXPECT_EQ(out.stop, UnwindStop::kNoProgress);
  }
  {  // The same in a caller, and a CFA below rsp.
    FakeProcess process;
    process.add(kAStart, kAEnd, leaf_rules());
    FrameRules b = pushed_rbp_rules();
    b.cfa = {breg(kDwarfRsp, -8)};
    b.return_address = at_cfa(8);
    process.add(kBStart, kBEnd, b);
    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());
    EXPECT_EQ(out.ips, ips({kAIp, kBCallsA}));
    EXPECT_EQ(out.stop, UnwindStop::kNoProgress);
    EXPECT_EQ(out.stop_ip, kBCallsA);
  }
}

// The CFA of a PLT entry (as GNU ld writes it for 16-byte entries): rsp+8 in the first 11
// bytes of an entry (before the `push`), rsp+16 after it:
//   DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge;
//   DW_OP_lit3; DW_OP_shl; DW_OP_plus
TEST(UnwindTest, PltCfaExpressionDependsOnTheIp) {
  constexpr std::uint64_t kPltStart = 0x401020, kPltEnd = 0x401100;
  FrameRules plt = base_rules();
  plt.cfa = {breg(kDwarfRsp, 8), breg(kDwarfRip, 0), op(DW_OP_lit15), op(DW_OP_and), op(DW_OP_lit11),
             op(DW_OP_ge),       op(DW_OP_lit3),     op(DW_OP_shl),   op(DW_OP_plus)};
  plt.return_address = at_cfa(-8);
  FakeProcess process;
  process.add(kPltStart, kPltEnd, plt);
  process.add(kCStart, kCEnd, outermost_rules());
  constexpr std::uint64_t kCallerOfEntry = 0x400840, kCallerAfterPush = 0x400860;
  FakeSample s(64);
  s.put(kStackBase + 0, kCallerOfEntry);    // return address before the push (CFA = rsp+8)
  s.put(kStackBase + 8, kCallerAfterPush);  // return address after the push (CFA = rsp+16)

  struct Case {
    std::uint64_t ip, expected_caller;
  };
  for (const Case& c : {Case{0x401030, kCallerOfEntry},       // entry + 0: jmp *GOT
                        Case{0x401036, kCallerOfEntry},       // entry + 6: push $index
                        Case{0x40103a, kCallerOfEntry},       // entry + 10: last byte before
                        Case{0x40103b, kCallerAfterPush},     // entry + 11: jmp PLT0
                        Case{0x40103f, kCallerAfterPush}}) {  // entry + 15
    SCOPED_TRACE(c.ip);
    s.set_ip(c.ip);
    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());
    EXPECT_EQ(out.ips, ips({c.ip, c.expected_caller}));
    EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  }
}

// A CFA read from memory (DW_CFA_def_cfa_expression, as after a stack realignment):
// DW_OP_breg6 -8; DW_OP_deref.
TEST(UnwindTest, CfaExpressionWithDeref) {
  FrameRules a = base_rules();
  a.cfa = {breg(kDwarfRbp, -8), op(DW_OP_deref)};
  a.return_address = at_cfa(-8);
  FakeProcess process = standard_process();
  process.add(0x405000, 0x405100, a);
  FakeSample s(64);
  s.set_ip(0x405010);
  s.set_reg(kDwarfRbp, kStackBase + 40);
  s.put(kStackBase + 32, kStackBase + 24);  // [rbp-8]: the CFA
  s.put(kStackBase + 16, kBCallsA);         // return address at CFA-8

  const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

  EXPECT_EQ(out.ips, ips({0x405010, kBCallsA}));
  // B: CFA = S+24+16 = S+40, return address at S+32, which holds S+24: not code.
  EXPECT_EQ(out.stop, UnwindStop::kUnmapped);
}

TEST(UnwindTest, UnsupportedOrMalformedExpressionsStopWithBadRules) {
  struct Case {
    const char* what;
    DwarfExpr cfa;
  };
  const Case cases[] = {
      {"DW_OP_bra", {breg(kDwarfRsp, 8), op(DW_OP_bra, 2)}},
      {"DW_OP_addr", {op(DW_OP_addr, kStackBase + 8)}},
      {"DW_OP_deref_size", {breg(kDwarfRsp, 0), op(DW_OP_deref_size, 4)}},
      {"DW_OP_GNU_entry_value", {op(DW_OP_GNU_entry_value)}},
      {"empty", {}},
      {"plus on one value", {breg(kDwarfRsp, 8), op(DW_OP_plus)}},
      {"register 17 (xmm0)", {op(DW_OP_bregx, 17, 8)}},
      {"register 200", {op(DW_OP_regx, 200)}},
      {"call_frame_cfa in the CFA", {op(DW_OP_call_frame_cfa)}},
      {"deref below rsp", {breg(kDwarfRsp, -64), op(DW_OP_deref)}},
      {"17 values on the stack",
       {op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1),
        op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1),
        op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_lit1)}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FrameRules a = leaf_rules();
    a.cfa = c.cfa;
    FakeProcess process;
    process.add(kAStart, kAEnd, a);
    FakeSample s(64);
    s.set_ip(kAIp);
    s.put(kStackBase + 0, kBCallsA);

    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

    EXPECT_EQ(out.ips, ips({kAIp}));
    EXPECT_EQ(out.stop, UnwindStop::kBadRules);
    EXPECT_EQ(out.stop_ip, kAIp);
  }
}

// The same in a return-address rule, and in a caller whose CFA uses a register the callee's
// rules do not recover (rax: caller-saved, unknown after the first step).
TEST(UnwindTest, BadRulesInCallersAndReturnAddressRules) {
  {
    FrameRules a = leaf_rules();
    a.return_address.expr = {op(DW_OP_call_frame_cfa), op(DW_OP_skip, 0)};
    FakeProcess process;
    process.add(kAStart, kAEnd, a);
    FakeSample s(64);
    s.set_ip(kAIp);
    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());
    EXPECT_EQ(out.ips, ips({kAIp}));
    EXPECT_EQ(out.stop, UnwindStop::kBadRules);
  }
  {
    FrameRules b = pushed_rbp_rules();
    b.cfa = {breg(0, 16)};  // rax
    FakeProcess process;
    process.add(kAStart, kAEnd, leaf_rules());
    process.add(kBStart, kBEnd, b);
    FakeSample s(64);
    s.set_ip(kAIp);
    s.set_reg(0, kStackBase + 8);  // the leaf's rax would give a plausible CFA: not to be used
    s.put(kStackBase + 0, kBCallsA);
    s.put(kStackBase + 16, kCCallsB);
    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());
    EXPECT_EQ(out.ips, ips({kAIp, kBCallsA}));
    EXPECT_EQ(out.stop, UnwindStop::kBadRules);
    EXPECT_EQ(out.stop_ip, kBCallsA);
  }
}

// The caller B computes its CFA from rbx (rbx + 8). A says rbx is unchanged (kSameValue): B
// unwinds. If A's rule for rbx is undefined, B's CFA cannot be computed.
TEST(UnwindTest, SameValueRuleKeepsTheRegister) {
  FrameRules b = base_rules();
  b.cfa = {breg(kDwarfRbx, 8)};
  b.return_address = at_cfa(-8);
  FakeSample s(64);
  s.set_ip(kAIp);
  s.set_reg(kDwarfRbx, kStackBase + 16);
  s.put(kStackBase + 0, kBCallsA);
  s.put(kStackBase + 16, kCCallsB);  // B's CFA = rbx+8 = S+24, return address at S+16

  for (bool kept : {true, false}) {
    SCOPED_TRACE(kept);
    FrameRules a = leaf_rules();
    a.rbx = kept ? same_value() : undefined();
    FakeProcess process;
    process.add(kAStart, kAEnd, a);
    process.add(kBStart, kBEnd, b);
    process.add(kCStart, kCEnd, outermost_rules());

    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

    if (kept) {
      EXPECT_EQ(out.ips, ips({kAIp, kBCallsA, kCCallsB}));
      EXPECT_EQ(out.stop, UnwindStop::kOutermost);
    } else {
      EXPECT_EQ(out.ips, ips({kAIp, kBCallsA}));
      EXPECT_EQ(out.stop, UnwindStop::kBadRules);
    }
  }
}

// kValue: the caller's register is the expression's value, not memory at it. A says the
// caller's rbp is rbp+16 (DW_CFA_val_expression DW_OP_breg6 16, its DW_OP_stack_value removed
// by ElfModule); the caller D has frame-pointer rules (CFA = rbp+16).
TEST(UnwindTest, ValueRuleGivesTheRegisterItsValue) {
  constexpr std::uint64_t kDStart = 0x402000, kDEnd = 0x402100, kDCallsA = 0x402040;
  struct Case {
    const char* what;
    RegisterRule rbp;
  };
  const Case cases[] = {
      {"val_expression breg6 16", value_of({breg(kDwarfRbp, 16)})},
      {"val_offset: CFA + 0", value_of({op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, 0)})},
      {"in register r14", value_of({op(DW_OP_reg14)})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FrameRules a = leaf_rules();
    a.rbp = c.rbp;
    FakeProcess process;
    process.add(kAStart, kAEnd, a);
    process.add(kDStart, kDEnd, frame_pointer_body_rules());
    process.add(kCStart, kCEnd, outermost_rules());
    FakeSample s(64);
    s.set_ip(kAIp);
    s.set_reg(kDwarfRbp, kStackBase - 8);  // rbp+16 = S+8, the same as CFA+0 and r14
    s.set_reg(14, kStackBase + 8);
    s.put(kStackBase + 0, kDCallsA);
    // D: rbp = S+8, CFA = S+24; return address at S+16, caller's rbp at S+8.
    s.put(kStackBase + 16, kCCallsB);
    // Had the rule been read as "at" (memory at S+8), rbp would be this, and D's CFA S+0x1010.
    s.put(kStackBase + 8, kStackBase + 0x1000);

    const UnwindOutcome out = unwind_stack(s.sample(), process.lookup());

    EXPECT_EQ(out.ips, ips({kAIp, kDCallsA, kCCallsB}));
    EXPECT_EQ(out.stop, UnwindStop::kOutermost);
  }
}

TEST(UnwindTest, StopReasonsHaveText) {
  for (int i = 0; i < static_cast<int>(UnwindStop::kCount); ++i) {
    EXPECT_NE(to_string(static_cast<UnwindStop>(i)), "?") << i;
  }
}

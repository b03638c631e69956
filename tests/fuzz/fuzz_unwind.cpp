// libFuzzer target: the CFI unwinder over a copied user stack (collector/profile/symbolize/
// unwind.cpp). Both the stack and the rules come from outside: the stack is whatever the
// profiled process had there, the rules are the .eh_frame of whatever binary it runs. Any
// registers, stack bytes and rules (expressions with every CFI operation, and bytes that are no
// operation at all) must end in a stop reason, within the depth limit, reading only the copy.
#include <dwarf.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstdint>
#include <vector>

#include "collector/profile/symbolize/unwind.hpp"

namespace {

using cgscope::collector::CodeAt;
using cgscope::collector::DwarfExpr;
using cgscope::collector::FrameRules;
using cgscope::collector::RegisterRule;

constexpr std::uint64_t kCodeStart = 0x400000, kCodeEnd = 0x410000, kStack = 0x7ffc0000;

DwarfExpr expr(FuzzedDataProvider& in) {
  static constexpr std::uint8_t kAtoms[] = {
      DW_OP_breg7,  DW_OP_breg6,  DW_OP_breg3,   DW_OP_breg16, DW_OP_bregx, DW_OP_reg6,     DW_OP_regx,
      DW_OP_lit0,   DW_OP_lit8,   DW_OP_lit15,   DW_OP_const1u, DW_OP_consts, DW_OP_constu, DW_OP_plus,
      DW_OP_minus,  DW_OP_mul,    DW_OP_and,     DW_OP_or,     DW_OP_xor,   DW_OP_shl,      DW_OP_shr,
      DW_OP_shra,   DW_OP_ge,     DW_OP_gt,      DW_OP_le,     DW_OP_lt,    DW_OP_eq,       DW_OP_ne,
      DW_OP_neg,    DW_OP_not,    DW_OP_deref,   DW_OP_dup,    DW_OP_drop,  DW_OP_swap,     DW_OP_over,
      DW_OP_plus_uconst, DW_OP_call_frame_cfa, DW_OP_nop, DW_OP_stack_value};
  DwarfExpr e(in.ConsumeIntegralInRange<std::size_t>(0, 20));
  for (auto& op : e) {
    op.atom = in.ConsumeBool() ? in.PickValueInArray(kAtoms) : in.ConsumeIntegral<std::uint8_t>();
    op.number = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::uint64_t>(0, 64) : in.ConsumeIntegral<std::uint64_t>();
    op.number2 = in.ConsumeIntegral<std::uint64_t>();
  }
  return e;
}

RegisterRule rule(FuzzedDataProvider& in) {
  RegisterRule r;
  r.kind = static_cast<RegisterRule::Kind>(in.ConsumeIntegralInRange<int>(0, 3));
  r.expr = expr(in);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::array<std::uint64_t, cgscope::collector::kUnwindRegs> regs{};
  for (auto& r : regs) r = in.ConsumeIntegral<std::uint64_t>();
  regs[cgscope::collector::kDwarfRsp] = kStack + in.ConsumeIntegralInRange<std::uint64_t>(0, 64);
  if (in.ConsumeBool()) regs[cgscope::collector::kDwarfRip] = in.ConsumeIntegralInRange(kCodeStart, kCodeEnd);
  // Functions: consecutive ranges of the code, each with rules or none (JIT-like).
  struct Function {
    std::uint64_t end;
    std::optional<FrameRules> rules;
  };
  std::vector<Function> functions;
  std::uint64_t at = kCodeStart;
  const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(0, 8);
  for (std::size_t i = 0; i < n && at < kCodeEnd; ++i) {
    at += in.ConsumeIntegralInRange<std::uint64_t>(1, 0x4000);
    Function f{at, std::nullopt};
    if (in.ConsumeBool()) {
      FrameRules r;
      r.cfa = expr(in);
      r.rbx = rule(in);
      r.rbp = rule(in);
      r.r12 = rule(in);
      r.r13 = rule(in);
      r.r14 = rule(in);
      r.r15 = rule(in);
      r.return_address = rule(in);
      f.rules = std::move(r);
    }
    functions.push_back(std::move(f));
  }
  const std::vector<std::uint8_t> stack = in.ConsumeRemainingBytes<std::uint8_t>();
  cgscope::collector::StackSample sample;
  sample.regs = regs.data();
  sample.stack = stack.data();
  sample.stack_bytes = stack.size();
  const std::size_t max_depth = 1 + (size % 127);
  const auto out = cgscope::collector::unwind_stack(
      sample,
      [&](std::uint64_t lookup) {
        CodeAt c;
        if (lookup < kCodeStart || lookup >= kCodeEnd) return c;
        c.mapped = true;
        for (const Function& f : functions)
          if (lookup < f.end) {
            c.rules = f.rules ? &*f.rules : nullptr;
            break;
          }
        return c;
      },
      max_depth);
  if (out.ips.size() > max_depth || out.stop >= cgscope::collector::UnwindStop::kCount) __builtin_trap();
  return 0;
}

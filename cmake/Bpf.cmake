# Compiling BPF programs and embedding them as libbpf skeletons.
#
# vmlinux.h comes from the build host's BTF when it has one; otherwise from the committed
# fallback (collector/common/vmlinux_fallback.h). Exactly one target generates it: several
# BPF objects generating it in parallel raced and crashed clang.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(CGSCOPE_VMLINUX_DIR ${CMAKE_BINARY_DIR}/vmlinux)
set(CGSCOPE_VMLINUX_H ${CGSCOPE_VMLINUX_DIR}/vmlinux.h)
set(CGSCOPE_VMLINUX_FALLBACK ${PROJECT_SOURCE_DIR}/collector/common/vmlinux_fallback.h)
set(CGSCOPE_BTF_SOURCE /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF to generate vmlinux.h from")

add_custom_command(
  OUTPUT ${CGSCOPE_VMLINUX_H}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CGSCOPE_VMLINUX_DIR}
  COMMAND sh -c "if [ -r '${CGSCOPE_BTF_SOURCE}' ] && '${BPFTOOL}' btf dump file '${CGSCOPE_BTF_SOURCE}' format c > '${CGSCOPE_VMLINUX_H}.tmp'; then mv '${CGSCOPE_VMLINUX_H}.tmp' '${CGSCOPE_VMLINUX_H}'; else echo 'cgscope: no usable BTF at ${CGSCOPE_BTF_SOURCE}, using the committed vmlinux fallback' >&2; cp '${CGSCOPE_VMLINUX_FALLBACK}' '${CGSCOPE_VMLINUX_H}'; fi"
  DEPENDS ${CGSCOPE_VMLINUX_FALLBACK}
  COMMENT "Generating vmlinux.h"
  VERBATIM)
add_custom_target(cgscope_vmlinux DEPENDS ${CGSCOPE_VMLINUX_H})

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(CGSCOPE_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(CGSCOPE_BPF_ARCH arm64)
else()
  set(CGSCOPE_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

# -mcpu=v3 (32-bit ALU and jumps, kernels >= 5.1): smaller programs, and 32-bit moves the I/O
# collector needs to hash request addresses.
#
# cgscope_bpf_skeleton(<name> <source.bpf.c> [DEPENDS headers...])
# Produces ${CMAKE_CURRENT_BINARY_DIR}/<name>.skel.h and an INTERFACE target <name>_skel.
function(cgscope_bpf_skeleton name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(linked ${CMAKE_CURRENT_BINARY_DIR}/${name}.linked.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${CGSCOPE_BPF_ARCH}
            -Wall -Wno-unused-function
            -I${CGSCOPE_VMLINUX_DIR} -I${PROJECT_SOURCE_DIR}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${source} ${ARG_DEPENDS} cgscope_vmlinux ${CGSCOPE_VMLINUX_H}
    IMPLICIT_DEPENDS C ${CMAKE_CURRENT_SOURCE_DIR}/${source}
    COMMENT "BPF ${name}"
    VERBATIM)
  # Static linking strips DWARF: the embedded object shrinks ~20x.
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen object ${linked} ${obj}
    COMMAND sh -c "'${BPFTOOL}' gen skeleton '${linked}' name '${name}_bpf' > '${skel}.tmp' && mv '${skel}.tmp' '${skel}'"
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF)
endfunction()

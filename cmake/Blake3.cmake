# BLAKE3: the official C implementation, as Debian's librust-blake3-dev ships it (with the
# hand-written x86-64 assembly). Built here as a static library target `blake3`.
file(GLOB _blake3_dirs LIST_DIRECTORIES true /usr/share/cargo/registry/blake3-*/c)
list(SORT _blake3_dirs COMPARE NATURAL ORDER DESCENDING)
list(GET _blake3_dirs 0 BLAKE3_C_DIR)
if(NOT EXISTS "${BLAKE3_C_DIR}/blake3.h")
  message(FATAL_ERROR "BLAKE3 C sources not found; install librust-blake3-dev (make deps)")
endif()
message(STATUS "BLAKE3 C sources: ${BLAKE3_C_DIR}")

add_library(blake3 STATIC
  ${BLAKE3_C_DIR}/blake3.c
  ${BLAKE3_C_DIR}/blake3_dispatch.c
  ${BLAKE3_C_DIR}/blake3_portable.c)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  target_sources(blake3 PRIVATE
    ${BLAKE3_C_DIR}/blake3_sse2_x86-64_unix.S
    ${BLAKE3_C_DIR}/blake3_sse41_x86-64_unix.S
    ${BLAKE3_C_DIR}/blake3_avx2_x86-64_unix.S
    ${BLAKE3_C_DIR}/blake3_avx512_x86-64_unix.S)
  # One block at a time, the portable C compression is faster here than the SIMD ones: each block
  # waits for the previous one's chaining value, so latency counts, and the SIMD rounds' shuffles
  # add to it. Measured on this machine (2 vCPUs of an AMD EPYC under KVM; other CPUs may rank
  # them otherwise), one hash (init, update, finalize):
  #   64 B 127 -> 91 ns, 256 B 395 -> 276 ns, 400 B 673 -> 440 ns, 1 KiB 1477 -> 965 ns;
  # 4 KiB unchanged at ~1.6 us, since inputs of two chunks or more go through blake3_hash_many,
  # which hashes chunks side by side and keeps its SIMD versions. Our hashes are nearly all below a
  # chunk (1 KiB): assertion IDs over a claim, WAL record checksums. So the dispatcher's
  # single-block entry points are pointed at the portable code; nothing else changes.
  set(_blake3_portable_single_block
    blake3_compress_in_place_avx512=blake3_compress_in_place_portable
    blake3_compress_in_place_sse41=blake3_compress_in_place_portable
    blake3_compress_in_place_sse2=blake3_compress_in_place_portable
    blake3_compress_xof_avx512=blake3_compress_xof_portable
    blake3_compress_xof_sse41=blake3_compress_xof_portable
    blake3_compress_xof_sse2=blake3_compress_xof_portable)
  set_source_files_properties(${BLAKE3_C_DIR}/blake3_dispatch.c PROPERTIES
    COMPILE_DEFINITIONS "${_blake3_portable_single_block}")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  target_sources(blake3 PRIVATE ${BLAKE3_C_DIR}/blake3_neon.c)
  target_compile_definitions(blake3 PRIVATE BLAKE3_USE_NEON=1)
else()
  target_compile_definitions(blake3 PRIVATE BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2 BLAKE3_NO_AVX512)
endif()
set_target_properties(blake3 PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
# Every ID and every WAL checksum goes through this code, so the Debug (sanitizer) build compiles it
# optimised, still instrumented: unoptimised, hashing was most of the ASan suite's time
# (docs/reliability.md, "Sanitizers").
target_compile_options(blake3 PRIVATE $<$<CONFIG:Debug>:-O2>)
# Consumers include <blake3.h>; SYSTEM keeps its warnings out of our -Werror builds.
target_include_directories(blake3 SYSTEM PUBLIC ${BLAKE3_C_DIR})

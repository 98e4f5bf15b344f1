# Hot CPU kernels are compiled once per ISA from the same source (files named *_isa_*.cpp
# include an _impl.h with EMBER_ISA set) and picked at start-up from cpuid, so the wheel runs
# on any x86-64 or arm64 while using AVX2/AVX-512 where present. Never -march=native.
function(ember_add_isa_kernels target)
  file(GLOB _isa_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/csrc/backend/cpu/*_isa_*.cpp)
  foreach(src ${_isa_sources})
    if(src MATCHES "_isa_avx2\\.cpp$")
      if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
        set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
        target_sources(${target} PRIVATE ${src})
      endif()
    elseif(src MATCHES "_isa_avx512\\.cpp$")
      if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
        set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx2;-mfma;-mf16c")
        target_sources(${target} PRIVATE ${src})
      endif()
    else()
      target_sources(${target} PRIVATE ${src})
    endif()
    # a sanitizer build instruments the variant the tests run (EMBER_SANITIZE_ISA, picked with
    # EMBER_CPU_ISA by scripts/sanitize.sh); the others compile fast and uninstrumented
    if(EMBER_SANITIZE AND NOT src MATCHES "_isa_${EMBER_SANITIZE_ISA}\\.cpp$")
      set_property(SOURCE ${src} APPEND PROPERTY COMPILE_OPTIONS "-O0;-g0;-fno-sanitize=all")
    endif()
    if(src MATCHES "gemm_isa_[a-z0-9]+\\.cpp$" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # packing copies short rows: keep them inline loops, not memcpy/memset calls
      set_property(SOURCE ${src} APPEND PROPERTY COMPILE_OPTIONS "-fno-tree-loop-distribute-patterns")
    endif()
  endforeach()
endfunction()

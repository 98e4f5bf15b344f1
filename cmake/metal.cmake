# The Metal backend. Kernels (metal/*.metal) and their host launch code (csrc/backend/metal/*.cpp)
# are built one of two ways:
#   EMBER_METAL (macOS): runtime_apple.mm against Metal.framework; the kernel sources are embedded
#     (compiled with newLibraryWithSource at first use) and, when `xcrun metal` exists, also
#     compiled into ember.metallib next to the extension (preferred at run time).
#   EMBER_METAL_EMULATOR (any OS, for tests): every .metal compiled as C++20 against the CPU
#     emulator (csrc/backend/metal/emu/), runtime_emulated.cpp. Off by default: a normal build
#     neither grows nor slows.
function(ember_add_metal target)
  file(GLOB _metal_kernels CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/metal/*.metal)
  file(GLOB _metal_headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/metal/*.h)
  file(GLOB _metal_host CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/csrc/backend/metal/*.cpp)
  list(FILTER _metal_host EXCLUDE REGEX ".*/runtime_emulated\\.cpp$")
  if(EMBER_METAL_EMULATOR)
    add_library(ember_metal OBJECT ${_metal_host} ${_metal_kernels}
                ${PROJECT_SOURCE_DIR}/csrc/backend/metal/runtime_emulated.cpp)
    # .metal files are C++20 here; -x c++ must precede the file name on the command line
    set_source_files_properties(${_metal_kernels} PROPERTIES LANGUAGE CXX COMPILE_OPTIONS "-xc++")
    target_compile_definitions(ember_metal PUBLIC EMBER_METAL_EMULATOR=1)
  else()
    enable_language(OBJCXX)
    set(_embedded ${CMAKE_CURRENT_BINARY_DIR}/metal_sources.cpp)
    add_custom_command(
      OUTPUT ${_embedded}
      COMMAND ${CMAKE_COMMAND} -DOUT=${_embedded} -DSRC=${PROJECT_SOURCE_DIR}/metal
              -P ${PROJECT_SOURCE_DIR}/cmake/metal_embed.cmake
      DEPENDS ${_metal_kernels} ${_metal_headers} ${PROJECT_SOURCE_DIR}/cmake/metal_embed.cmake)
    add_library(ember_metal OBJECT ${_metal_host} ${_embedded}
                ${PROJECT_SOURCE_DIR}/csrc/backend/metal/runtime_apple.mm)
    set_source_files_properties(${PROJECT_SOURCE_DIR}/csrc/backend/metal/runtime_apple.mm
                                PROPERTIES COMPILE_OPTIONS "-fobjc-arc")
    target_link_libraries(${target} PRIVATE "-framework Metal" "-framework Foundation")
    find_program(EMBER_XCRUN xcrun)
    if(EMBER_XCRUN)
      execute_process(COMMAND ${EMBER_XCRUN} -sdk macosx -f metal RESULT_VARIABLE _no_metal
                      OUTPUT_QUIET ERROR_QUIET)
    endif()
    if(EMBER_XCRUN AND NOT _no_metal)
      set(_airs)
      foreach(_k ${_metal_kernels})
        get_filename_component(_n ${_k} NAME_WE)
        set(_air ${CMAKE_CURRENT_BINARY_DIR}/metal/${_n}.air)
        add_custom_command(
          OUTPUT ${_air}
          COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/metal
          COMMAND ${EMBER_XCRUN} -sdk macosx metal -x metal -Wall -Wextra -fno-fast-math
                  -I ${PROJECT_SOURCE_DIR}/metal -c ${_k} -o ${_air}
          DEPENDS ${_k} ${_metal_headers})
        list(APPEND _airs ${_air})
      endforeach()
      add_custom_command(
        OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/ember.metallib
        COMMAND ${EMBER_XCRUN} -sdk macosx metal ${_airs} -o ${CMAKE_CURRENT_BINARY_DIR}/ember.metallib
        DEPENDS ${_airs})
      add_custom_target(ember_metallib ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/ember.metallib)
      install(FILES ${CMAKE_CURRENT_BINARY_DIR}/ember.metallib DESTINATION ember)
    endif()
  endif()
  target_include_directories(ember_metal PRIVATE ${PROJECT_SOURCE_DIR}/csrc ${PROJECT_SOURCE_DIR}/metal)
  target_compile_definitions(ember_metal PUBLIC EMBER_METAL=1)
  target_compile_options(ember_metal PRIVATE -fno-math-errno)
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:ember_metal>)
  target_compile_definitions(${target} PRIVATE EMBER_METAL=1)
endfunction()

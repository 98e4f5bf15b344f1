# Writes OUT: a C++ file defining ember::metal::kEmbeddedSource, every metal/*.h (ember_kernel.h
# first) then every metal/*.metal, with quoted includes and `#pragma once` dropped, so
# newLibraryWithSource can compile the whole library from one string (it cannot open includes).
file(GLOB _headers ${SRC}/*.h)
file(GLOB _kernels ${SRC}/*.metal)
list(SORT _headers)
list(SORT _kernels)
list(REMOVE_ITEM _headers ${SRC}/ember_kernel.h)
set(_all ${SRC}/ember_kernel.h ${_headers} ${_kernels})
set(_text "")
foreach(_f ${_all})
  file(READ ${_f} _body)
  string(REGEX REPLACE "#include \"[^\"]*\"" "" _body "${_body}")
  string(REPLACE "#pragma once" "" _body "${_body}")
  string(APPEND _text "${_body}\n")
endforeach()
# raw-string chunks: MSVC-style length limits do not apply to clang, but keep the delimiter unique
file(WRITE ${OUT} "namespace ember::metal {\nextern const char* const kEmbeddedSource;\nconst char* const kEmbeddedSource = R\"ember_msl(${_text})ember_msl\";\n}\n")

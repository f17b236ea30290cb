# Dependencies of the wmark library, shared by the build and by the installed
# wmarkConfig.cmake so that both resolve them the same way.
include(CMakeFindDependencyMacro)
find_dependency(Torch)
find_dependency(spdlog)
find_dependency(nlohmann_json)
find_dependency(ZLIB)
find_dependency(OpenSSL)  # RFC 3161 time stamps, https suspects (linked privately)
find_dependency(simdjson) # the serving protocols' JSON bodies (linked privately)

# Linked privately: their headers stay out of wmark's public headers, but a static
# libwmark still needs them when a program links it, so the installed package finds
# them too. cpp-httplib (serving, remote verification) and libsodium (signed claims).
foreach(wmark_dep IN ITEMS cpp-httplib sodium)
  if(NOT TARGET wmark_deps::${wmark_dep})
    find_library(WMARK_LIBRARY_${wmark_dep} NAMES ${wmark_dep})
    if(NOT WMARK_LIBRARY_${wmark_dep})
      message(FATAL_ERROR "wmark needs lib${wmark_dep} (Debian: libcpp-httplib-dev, libsodium-dev; scripts/install-deps.sh)")
    endif()
    add_library(wmark_deps::${wmark_dep} UNKNOWN IMPORTED)
    set_target_properties(wmark_deps::${wmark_dep} PROPERTIES IMPORTED_LOCATION "${WMARK_LIBRARY_${wmark_dep}}")
  endif()
endforeach()

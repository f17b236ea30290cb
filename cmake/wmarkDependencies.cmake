# Dependencies of the wmark library, shared by the build and by the installed
# wmarkConfig.cmake so that both resolve them the same way.
include(CMakeFindDependencyMacro)
find_dependency(Torch)
find_dependency(spdlog)
find_dependency(nlohmann_json)
find_dependency(ZLIB)

/// \file
/// WMARK_API, the macro that marks the library's public symbols.
///
/// The library and everything built with it use hidden visibility
/// (-fvisibility=hidden, -fvisibility-inlines-hidden), so only declarations marked
/// WMARK_API are exported from a shared libwmark; everything else stays internal.
/// On Windows a shared build defines WMARK_SHARED for the library and its users and
/// WMARK_BUILDING for the library itself; a static build defines neither.
#pragma once

#if defined(WMARK_DOXYGEN)
/// Exports a class or function from libwmark: `__attribute__((visibility("default")))`
/// on GCC and Clang; on Windows `__declspec(dllexport)` while building a shared
/// library, `__declspec(dllimport)` when using one, and nothing for a static library.
#define WMARK_API
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(WMARK_SHARED) && defined(WMARK_BUILDING)
#define WMARK_API __declspec(dllexport)
#elif defined(WMARK_SHARED)
#define WMARK_API __declspec(dllimport)
#else
#define WMARK_API
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define WMARK_API __attribute__((visibility("default")))
#else
#define WMARK_API
#endif

// libmaps/export.h: symbol visibility and the C/C++ exception specifier.
//
// LIBMAPS_EXPORT marks every public symbol; the library is built with hidden
// visibility, so anything without it stays internal. LIBMAPS_NOEXCEPT expands
// to `noexcept` in C++ and to nothing in C, so one declaration serves both.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_EXPORT_H_
#define LIBMAPS_INCLUDE_LIBMAPS_EXPORT_H_

#if defined(LIBMAPS_BUILDING_LIBRARY)
#define LIBMAPS_EXPORT __attribute__((visibility("default")))
#else
#define LIBMAPS_EXPORT
#endif

#ifdef __cplusplus
#define LIBMAPS_NOEXCEPT noexcept
#else
#define LIBMAPS_NOEXCEPT
#endif

#endif  // LIBMAPS_INCLUDE_LIBMAPS_EXPORT_H_

# Imports the static libopenvswitch built by scripts/build-ovs.sh as the
# target ctf_ovs.
#
# Debian has no libopenvswitch-dev, so there is nothing for find_package() or
# pkg-config to find: we point at the OVS build tree itself.  Only the OVSDB
# watcher may link ctf_ovs (see STYLE.md): its include path puts OVS's
# config.h and its lib/ and include/linux/ wrapper headers in front of the
# system ones, which nothing else in the tree should see.
#
# Inputs:
#   OVS_DIR        the OVS build tree; empty means the newest one that
#                  scripts/build-ovs.sh left under $CTF_DEPS_DIR
#                  (default /var/cache/ctflushd), i.e. .../ovs-<version>.
# Outputs:
#   ctf_ovs        imported static library with includes and link deps.
#   OVS_VERSION    e.g. "3.1.0".
#
# Sources using it must include <config.h> (OVS's) before any OVS header:
# OVS headers pick atomics and struct layouts from its HAVE_* macros.

include_guard(GLOBAL)

set(OVS_DIR "" CACHE PATH
    "Open vSwitch build tree from scripts/build-ovs.sh (empty: search the cache)")

get_filename_component(_ctf_build_ovs
                       "${CMAKE_CURRENT_LIST_DIR}/../scripts/build-ovs.sh" ABSOLUTE)

if(OVS_DIR)
  set(_ctf_ovs_dir "${OVS_DIR}")
else()
  if(DEFINED ENV{CTF_DEPS_DIR} AND NOT "$ENV{CTF_DEPS_DIR}" STREQUAL "")
    set(_ctf_deps_dir "$ENV{CTF_DEPS_DIR}")
  else()
    set(_ctf_deps_dir "/var/cache/ctflushd")
  endif()
  # The script names the tree after the OVS version, which cmake cannot know
  # without unpacking the tarball; take the newest finished build instead.
  # A finished build is one with its stamp: the script writes it last.
  file(GLOB _ctf_ovs_stamps "${_ctf_deps_dir}/ovs-*/.ctf-stamp")
  if(NOT _ctf_ovs_stamps)
    message(FATAL_ERROR
      "libopenvswitch not found: no finished build under ${_ctf_deps_dir} "
      "(looked for ovs-*/.ctf-stamp).\n"
      "Run ${_ctf_build_ovs} first (it honours CTF_DEPS_DIR too), "
      "or pass -DOVS_DIR=<OVS build tree>, or configure with -DCTF_WITH_OVS=OFF.")
  endif()
  list(SORT _ctf_ovs_stamps COMPARE NATURAL)
  list(GET _ctf_ovs_stamps -1 _ctf_ovs_stamp)
  get_filename_component(_ctf_ovs_dir "${_ctf_ovs_stamp}" DIRECTORY)
endif()

set(_ctf_ovs_lib "${_ctf_ovs_dir}/lib/.libs/libopenvswitch.a")
foreach(_f "${_ctf_ovs_lib}" "${_ctf_ovs_dir}/config.h"
           "${_ctf_ovs_dir}/lib/vswitch-idl.h" "${_ctf_ovs_dir}/Makefile")
  if(NOT EXISTS "${_f}")
    message(FATAL_ERROR
      "libopenvswitch not usable: ${_f} is missing.\n"
      "Run ${_ctf_build_ovs} to (re)build it, "
      "or point -DOVS_DIR at a complete OVS build tree.")
  endif()
endforeach()

file(STRINGS "${_ctf_ovs_dir}/config.h" _ctf_ovs_ver
     REGEX "^#define PACKAGE_VERSION \"[^\"]*\"")
string(REGEX REPLACE ".*\"([^\"]*)\".*" "\\1" OVS_VERSION "${_ctf_ovs_ver}")

# Take the link dependencies from OVS's own configure results instead of a
# fixed list: they follow its options (-lssl -lcrypto for SSL, -latomic where
# the compiler needs it, -lcap-ng or -lunbound on a tree configured with them).
file(STRINGS "${_ctf_ovs_dir}/Makefile" _ctf_ovs_mk_libs
     REGEX "^(LIBS|SSL_LIBS|CAPNG_LDADD) = ")
set(_ctf_ovs_deps "")
foreach(_line IN LISTS _ctf_ovs_mk_libs)
  string(REGEX REPLACE "^[A-Z_]+ = " "" _line "${_line}")
  separate_arguments(_words UNIX_COMMAND "${_line}")
  list(APPEND _ctf_ovs_deps ${_words})
endforeach()
list(REMOVE_DUPLICATES _ctf_ovs_deps)

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

# SYSTEM: OVS headers do not build cleanly under our -Wshadow,
# -Wmissing-prototypes and -Werror, and they are not ours to fix.  The order
# is OVS's own: the build root (config.h), include/, then lib/ (where the
# generated vswitch-idl.h lives).
set(_ctf_ovs_includes
    "${_ctf_ovs_dir}" "${_ctf_ovs_dir}/include" "${_ctf_ovs_dir}/lib")

add_library(ctf_ovs STATIC IMPORTED GLOBAL)
set_target_properties(ctf_ovs PROPERTIES
  IMPORTED_LOCATION "${_ctf_ovs_lib}"
  IMPORTED_LINK_INTERFACE_LANGUAGES C
  INTERFACE_INCLUDE_DIRECTORIES "${_ctf_ovs_includes}"
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_ctf_ovs_includes}"
  INTERFACE_LINK_LIBRARIES "${_ctf_ovs_deps};Threads::Threads")

message(STATUS "libopenvswitch ${OVS_VERSION}: ${_ctf_ovs_dir} "
               "(links ${_ctf_ovs_deps})")

# FindBoringSSL.cmake — locate Debian's android-libboringssl-dev.
#
# Debian installs BoringSSL beside (not instead of) OpenSSL, in an "android"
# subfolder of the usual include and multiarch library folders:
#   /usr/include/android/openssl/*.h
#   /usr/lib/<multiarch>/android/libcrypto.so, libssl.so
# This module finds them there (or under BORINGSSL_ROOT) and defines the
# imported targets BoringSSL::Crypto and BoringSSL::SSL. Linking them never
# pulls in OpenSSL: their sonames are libcrypto.so.0 / libssl.so.0 in the
# android folder, and every binary gets that folder as its RPATH.
#
# Result variables: BoringSSL_FOUND, BoringSSL_INCLUDE_DIR,
# BoringSSL_CRYPTO_LIBRARY, BoringSSL_SSL_LIBRARY, BoringSSL_LIBRARY_DIR.

set(_bssl_hints "")
if(BORINGSSL_ROOT)
  list(APPEND _bssl_hints "${BORINGSSL_ROOT}")
endif()

if(CMAKE_LIBRARY_ARCHITECTURE)
  set(_bssl_libdirs "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android")
else()
  file(GLOB _bssl_libdirs "/usr/lib/*/android")
endif()

find_path(BoringSSL_INCLUDE_DIR
  NAMES openssl/aead.h
  HINTS ${_bssl_hints}
  PATH_SUFFIXES include/android include
  PATHS /usr/include/android
  NO_DEFAULT_PATH)

find_library(BoringSSL_CRYPTO_LIBRARY
  NAMES crypto
  HINTS ${_bssl_hints}
  PATH_SUFFIXES lib/android lib
  PATHS ${_bssl_libdirs}
  NO_DEFAULT_PATH)

find_library(BoringSSL_SSL_LIBRARY
  NAMES ssl
  HINTS ${_bssl_hints}
  PATH_SUFFIXES lib/android lib
  PATHS ${_bssl_libdirs}
  NO_DEFAULT_PATH)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL
  REQUIRED_VARS BoringSSL_INCLUDE_DIR BoringSSL_CRYPTO_LIBRARY BoringSSL_SSL_LIBRARY)

if(BoringSSL_FOUND)
  get_filename_component(BoringSSL_LIBRARY_DIR "${BoringSSL_CRYPTO_LIBRARY}" DIRECTORY)
  if(NOT TARGET BoringSSL::Crypto)
    add_library(BoringSSL::Crypto UNKNOWN IMPORTED)
    set_target_properties(BoringSSL::Crypto PROPERTIES
      IMPORTED_LOCATION "${BoringSSL_CRYPTO_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${BoringSSL_INCLUDE_DIR}")
  endif()
  if(NOT TARGET BoringSSL::SSL)
    add_library(BoringSSL::SSL UNKNOWN IMPORTED)
    set_target_properties(BoringSSL::SSL PROPERTIES
      IMPORTED_LOCATION "${BoringSSL_SSL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${BoringSSL_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES BoringSSL::Crypto)
  endif()
endif()

mark_as_advanced(BoringSSL_INCLUDE_DIR BoringSSL_CRYPTO_LIBRARY BoringSSL_SSL_LIBRARY)

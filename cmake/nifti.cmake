# SPDX-License-Identifier: MIT
# niftilib (nifti2 API). Debian 12's NIFTIConfig.cmake names /usr/lib/libznz.so.3.0.0 instead of the multiarch
# path and stops the configure with a FATAL_ERROR, so the libraries are found directly. Defines vxa::nifti2.
find_path(NIFTI2_INCLUDE_DIR nifti2_io.h PATH_SUFFIXES nifti REQUIRED)
find_library(NIFTI2_LIBRARY nifti2 REQUIRED)
find_library(ZNZ_LIBRARY znz REQUIRED)
add_library(vxa::nifti2 INTERFACE IMPORTED)
set_target_properties(vxa::nifti2 PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${NIFTI2_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES "${NIFTI2_LIBRARY};${ZNZ_LIBRARY};ZLIB::ZLIB;m")
message(STATUS "niftilib: ${NIFTI2_LIBRARY} (${NIFTI2_INCLUDE_DIR})")

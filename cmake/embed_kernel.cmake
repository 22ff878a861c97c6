# SPDX-License-Identifier: MIT
# Turns one kernel source into a C byte array (no escaping, no literal length limits).
# Run by add_custom_command with -DIN=<file> -DOUT=<c file> -DNAME=<symbol>.
get_filename_component(base "${IN}" NAME)
if(base MATCHES "\\.cl$")
  string(HEX "#line 1 \"kernels/${base}\"\n" head)   # so build logs name the real file and line
else()
  set(head "")
endif()
file(READ "${IN}" body HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${head}${body}")
file(WRITE "${OUT}" "/* generated from ${base} */\n#include <stddef.h>\n"
     "const char ${NAME}[] = {${bytes}0};\nconst size_t ${NAME}_len = sizeof ${NAME} - 1;\n")

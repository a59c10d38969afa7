file(READ ${SRC} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* generated from ${SRC}; do not edit */\n#include <stddef.h>\n"
  "extern const char jd_script_${NAME}[];\nextern const size_t jd_script_${NAME}_len;\n"
  "const char jd_script_${NAME}[] = {${bytes} 0};\n"
  "const size_t jd_script_${NAME}_len = sizeof(jd_script_${NAME}) - 1;\n")

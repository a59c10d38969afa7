# Lua scripts are compiled into the binary as C strings, so the daemon never reads files
# at run time and the script text and its SHA1 always match the code that calls it.
function(jd_embed_scripts out_var)
  set(outputs)
  foreach(src ${ARGN})
    get_filename_component(name ${src} NAME_WE)
    set(out ${CMAKE_BINARY_DIR}/generated/script_${name}.c)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DSRC=${src} -DOUT=${out} -DNAME=${name}
              -P ${CMAKE_SOURCE_DIR}/cmake/EmbedOne.cmake
      DEPENDS ${src} ${CMAKE_SOURCE_DIR}/cmake/EmbedOne.cmake VERBATIM)
    list(APPEND outputs ${out})
  endforeach()
  set(${out_var} ${outputs} PARENT_SCOPE)
endfunction()

# -DJD_SANITIZE=address,undefined: the curl / pgbouncer recipe. Applies to every target so
# the libraries, the daemon and the tests are instrumented alike.
if(JD_SANITIZE)
  add_compile_options(-fsanitize=${JD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${JD_SANITIZE})
endif()

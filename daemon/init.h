/*
 * `journeyd init [--dir DIR]`: a first configuration with fresh random secrets, so no
 * installed file ever holds a working one (the shipped example holds CHANGE-ME
 * placeholders that --check-config refuses).
 */
#ifndef JD_INIT_H
#define JD_INIT_H

/* argv[0] is "init". Returns the process exit code: 0 written, 1 refused or failed,
 * 2 usage. */
int jd_init_main(int argc, char **argv);

#endif

/*
 * `journeyd backfill -c FILE --source NAME --since 90d`: a source's history read back
 * from its provider's API and queued for the running journeyd (daemon/reconcile.h).
 */
#ifndef JD_BACKFILL_H
#define JD_BACKFILL_H

/* argv[0] is "backfill". Returns the exit code: 0 done, 1 failed or interrupted (run it
 * again to resume), 2 usage. */
int jd_backfill_main(int argc, char **argv);

#endif

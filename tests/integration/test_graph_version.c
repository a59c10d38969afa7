/*
 * The Graph API version in use is logged at start for every Meta source (issue 16.2): the
 * default is a current version (v19.0, the old default, was retired in May 2026), a
 * source's graph_version moves it, and an api_base (a proxy, a test's fake) is named as
 * such.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    jd_setup("graph_version", 60, 1);
    struct jd_redis redis;
    jd_redis_start(&redis, NULL, 0);
    struct jd_daemon d;
    jd_daemon_config(&d, redis.port,
                     "\n[source meta]\ntype = meta_leads\nsecret = meta_test_app_secret\n"
                     "verify_token = verify-token\n"
                     "\n[source meta27]\ntype = meta_leads\nsecret = meta_test_app_secret\n"
                     "verify_token = verify-token\ngraph_version = v27.0\n"
                     "\n[source metaproxy]\ntype = meta_leads\nsecret = meta_test_app_secret\n"
                     "verify_token = verify-token\napi_base = http://127.0.0.1:9/v20.0\n");
    jd_daemon_start(&d, 1);
    char *log = jd_slurp(d.log);
    JD_REQUIRE(log != NULL, "cannot read %s", d.log);
    JD_EXPECT(strstr(log, "msg=\"graph api\" source=meta graph_version=v26.0\n") != NULL,
              "no default-version line in the log:\n%s", log);
    JD_EXPECT(strstr(log, "msg=\"graph api\" source=meta27 graph_version=v27.0\n") != NULL,
              "no graph_version line for meta27");
    JD_EXPECT(strstr(log, "msg=\"graph api\" source=metaproxy api_base=set\n") != NULL,
              "no api_base line for metaproxy");
    JD_EXPECT(strstr(log, "v19.0") == NULL, "the retired v19.0 is still named");
    free(log);
    jd_daemon_stop(&d);
    jd_redis_shutdown(&redis);
    return jd_finish();
}

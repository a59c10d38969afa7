/*
 * cx_json_check against cJSON on arbitrary bytes: verify and the journey answer trust the
 * check's "this is one JSON value" (verify to queue a body, the journey answer to splice a
 * stored event as it is), so whatever it accepts must parse with cx_json_parse, with the
 * same top-level type and the same first members. Aborts on any disagreement.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"id", "type", "kind", "touch"};
    struct cx_json_top top = {.keys = keys, .nkeys = 4};

    if (cx_json_check(data, size, CX_JSON_MAX_DEPTH, &top) != 0)
        return 0;
    cJSON *root = cx_json_parse(data, size, CX_JSON_MAX_DEPTH);
    if (!root)
        abort(); /* accepted what cJSON refuses */
    if (cJSON_IsObject(root) != (top.type == '{') || cJSON_IsArray(root) != (top.type == '['))
        abort();
    for (size_t i = 0; i < 4 && cJSON_IsObject(root); i++) {
        const struct cx_json_member *m = &top.found[i];
        /* A name spelled with escapes is never matched by the check; cJSON may find it. */
        if (top.escaped_name)
            break;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        if ((v != NULL) != (m->kind != 0))
            abort();
        if (v && cJSON_IsObject(v) != (m->kind == '{'))
            abort();
        /* Integers beyond 2^53 become strings in cx_json_parse; other strings agree. */
        if (v && m->kind == 's' && !cJSON_IsString(v))
            abort();
        if (v && m->kind == 's' && !m->escaped &&
            (strlen(v->valuestring) != m->len || memcmp(v->valuestring, m->value, m->len) != 0))
            abort();
    }
    cJSON_Delete(root);
    return 0;
}

#include "customer_fields.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "customer_headers.h"
#include "search_keys.h"
#include "validate.h"

const struct cfield customer_fields[] = {
    { "name", F_NAME, 200, "", COL_NAME },
    { "kind", F_KIND, 0, "::customer_kind", COL_KIND },
    { "ext_ref", F_TEXT, 100, "", COL_EXT_REF },
    { "gender", F_GENDER, 0, "", COL_GENDER },
    { "birth", F_DATE, 0, "::date", COL_BIRTH },
    { "id_number", F_IDNUM, 0, "", COL_ID_NUMBER },
    { "phones", F_PHONES, 0, "::text[]", COL_PHONES },
    { "email", F_EMAIL, 0, "", COL_EMAIL },
    { "company", F_TEXT, 200, "", COL_COMPANY },
    { "address", F_TEXT, 300, "", COL_ADDRESS },
    { "region", F_TEXT, 100, "", COL_REGION },
    { "industry", F_TEXT, 100, "", COL_INDUSTRY },
    { "size", F_TEXT, 50, "", COL_SIZE },
    { "occupation", F_TEXT, 100, "", COL_OCCUPATION },
    { "source", F_SOURCE, 0, "", COL_SOURCE },
    { "tags", F_TAGS, 0, "::text[]", COL_TAGS },
    { "notes", F_NOTES, 4000, "", COL_NOTES },
    { "since", F_DATE, 0, "::date", COL_SINCE },
};
static const char *const sources[] = { "b2b_platform", "trade_show", "search_engine", "purchased_list",
                                       "referral", "walk_in", "other" };

int customer_field_find(const char *name)
{
    for (int i = 0; i < CF_COUNT; i++)
        if (strcmp(customer_fields[i].name, name) == 0)
            return i;
    return -1;
}

/* Checks and normalises one field's value into v->text[i]; NULL or a reason. */
const char *customer_field_set(struct arena *a, struct cvalues *v, int i, const char *value)
{
    const struct cfield *f = &customer_fields[i];
    const char *why = NULL;
    char buf[512];
    switch (f->type) {
    case F_NAME:
        if (!*value)
            return "is required";
        /* fall through */
    case F_TEXT:
    case F_NOTES:
        why = f->type == F_NOTES ? validate_text(value, f->max_chars) : validate_line(value, f->max_chars);
        if (!why && f->type == F_TEXT && strchr(value, ',') && i == FI_EXT_REF)
            why = "must not contain commas";
        if (why)
            return why;
        v->text[i] = arena_strdup(a, value);
        return NULL;
    case F_DATE:
        if (*value && (why = i == FI_BIRTH ? validate_birth(value) : validate_date(value)))
            return why;
        if (i == FI_SINCE && *value) {
            char today[11];
            validate_today(today);
            if (strcmp(value, today) > 0)
                return "must not be in the future";
        }
        v->text[i] = arena_strdup(a, value);
        return NULL;
    case F_EMAIL:
        if (*value && (why = validate_email(value)))
            return why;
        v->text[i] = arena_strdup(a, value);
        for (char *p = v->text[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return NULL;
    case F_IDNUM:
        if (*value && (why = validate_id_number(value, buf, sizeof buf)))
            return why;
        v->text[i] = arena_strdup(a, *value ? buf : "");
        return NULL;
    case F_KIND:
        if (strcmp(value, "individual") && strcmp(value, "corporate"))
            return "must be individual or corporate";
        v->text[i] = arena_strdup(a, value);
        return NULL;
    case F_GENDER:
        if (*value && strcmp(value, "male") && strcmp(value, "female"))
            return "must be male or female";
        v->text[i] = arena_strdup(a, value);
        return NULL;
    case F_SOURCE: {
        int ok = !*value;
        for (size_t k = 0; k < sizeof sources / sizeof sources[0]; k++)
            ok |= strcmp(value, sources[k]) == 0;
        if (!ok)
            return "must be one of b2b_platform, trade_show, search_engine, purchased_list, referral, walk_in, other";
        v->text[i] = arena_strdup(a, value);
        return NULL;
    }
    case F_PHONES:
    case F_TAGS: {
        size_t n;
        char **items = rpc_split(a, value, ',', &n);
        if (n > 10)
            return "may hold at most 10 entries";
        size_t len = 0;
        for (size_t k = 0; k < n; k++) {
            if (f->type == F_PHONES) {
                if ((why = validate_phone(items[k], buf, 32)))
                    return why;
                items[k] = arena_strdup(a, buf);
            } else if (!*items[k] || (why = validate_line(items[k], 50))) {
                return why ? why : "must not hold an empty tag";
            }
            for (size_t j = 0; j < k; j++)
                if (strcmp(items[j], items[k]) == 0)
                    return f->type == F_PHONES ? "lists the same phone twice" : "lists the same tag twice";
            len += strlen(items[k]) + 1;
        }
        char *joined = arena_alloc(a, len + 1);
        for (size_t k = 0; k < n; k++) {
            if (k)
                strcat(joined, ",");
            strcat(joined, items[k]);
        }
        v->text[i] = joined;
        return NULL;
    }
    }
    return "cannot be set";
}

/* The SQL parameter for field i: arrays as literals, empty as NULL. */
const char *customer_field_param(struct arena *a, const struct cvalues *v, int i)
{
    const char *t = v->text[i] ? v->text[i] : "";
    if (customer_fields[i].type == F_PHONES || customer_fields[i].type == F_TAGS) {
        size_t n;
        char **items = rpc_split(a, t, ',', &n);
        return rpc_pg_array(a, (const char *const *)items, n);
    }
    return *t ? t : NULL;
}

/* sort_key, search_text, search_tokens for the values. */
int customer_keys(struct arena *a, const struct cvalues *v, struct customer_keys *out)
{
    size_t nphones;
    char **phones = rpc_split(a, v->text[FI_PHONES] ? v->text[FI_PHONES] : "", ',', &nphones);
    struct search_keys_input in = {
        .name = v->text[FI_NAME],
        .company = v->text[FI_COMPANY],
        .email = v->text[FI_EMAIL],
        .id_number = v->text[FI_ID_NUMBER],
        .ext_ref = v->text[FI_EXT_REF],
        .phones = (const char *const *)phones,
        .nphones = nphones,
    };
    struct search_keys k;
    if (search_keys_build(&in, &k) < 0)
        return -1;
    char *tokens = search_keys_tokens_literal(&k);
    out->text = arena_strdup(a, k.text ? k.text : "");
    out->tokens = arena_strdup(a, tokens ? tokens : "{}");
    out->sort_key = arena_strdup(a, k.sort_key);
    free(tokens);
    search_keys_free(&k);
    return 0;
}


int customer_field_from_header(const char *header)
{
    const char *f = customer_header_field(header);
    if (!f)
        return -1;
    if (strcmp(f, "owner") == 0)
        return CF_OWNER;
    if (strcmp(f, "branch") == 0)
        return CF_BRANCH;
    return customer_field_find(f);
}

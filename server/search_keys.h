/* Search keys of a customer, computed in C on every insert and update, and
 * the query side that turns what a user typed into a condition on them.
 *
 * Two values are stored per customer (see the SQL below):
 *
 *   search_text    text, pg_trgm GIN, searched with LIKE '%q%' (queries of
 *                  three or more characters). Pieces separated by " | " so
 *                  that a pattern never runs from one field into the next:
 *                  the name; its pinyin spaced ("zhang san") and joined
 *                  ("zhangsan"), also in the alternative readings of
 *                  polyphonic characters ("zeng xiao ming" beside ICU's
 *                  "ceng xiao ming"); the company and its pinyin forms; each
 *                  phone as digits only ("+86 138-0013-8000" gives
 *                  "8613800138000"); the email, the ID number and the
 *                  external reference.
 *
 *   search_tokens  text[], GIN (array_ops), searched with @> (queries of one
 *                  or two characters, and initials): the Han characters of
 *                  the name and the company and every bigram of adjacent Han
 *                  characters (张三 gives 张, 三, 张三); the initials of the
 *                  name (zs; 曾小明 gives both cxm and zxm) and of the Han
 *                  part of the company; the joined pinyin and each syllable
 *                  of the name; the words of a Latin name and its initials
 *                  (John Smith gives john, smith, js). Unique, at most
 *                  SEARCH_KEYS_TOKENS_MAX, none longer than
 *                  SEARCH_KEYS_TOKEN_BYTES.
 *
 * Everything stored and everything queried is normalised the same way:
 * NFKC with case folding (full-width "ＺＳ１３８" becomes "zs138", the ID
 * number's X becomes x), runs of white space and control characters become
 * one space, ends trimmed.
 *
 * Pinyin comes from ICU's "Han-Latin; Latin-ASCII; Lower" transliterator,
 * which gives one reading per character and is wrong for some surnames and
 * place names (曾 zeng, 单 shan, 长沙 chang, 银行 hang ...): a small table of
 * polyphonic characters adds up to SEARCH_KEYS_VARIANTS_MAX variants per
 * field, each replacing every occurrence of one character (or compound
 * surname such as 万俟) by one alternative reading. Tones are dropped and ü
 * is written u (ICU's Latin-ASCII); 吕 and a few other ü syllables also get
 * a "v" variant (lv).
 *
 * Recommended schema and queries (PostgreSQL 15, pg_trgm):
 *
 *   CREATE EXTENSION IF NOT EXISTS pg_trgm;
 *   ALTER TABLE customer
 *       ADD COLUMN search_text   text   NOT NULL DEFAULT '',
 *       ADD COLUMN search_tokens text[] NOT NULL DEFAULT '{}';
 *   CREATE INDEX customer_search_text_idx
 *       ON customer USING gin (search_text gin_trgm_ops);
 *   CREATE INDEX customer_search_tokens_idx
 *       ON customer USING gin (search_tokens);
 *
 *   -- modes == SEARCH_KEYS_BY_TEXT | SEARCH_KEYS_BY_TOKEN
 *   ... WHERE (search_text LIKE $1 OR search_tokens @> ARRAY[$2]::text[])
 *   -- SEARCH_KEYS_BY_TEXT only:   WHERE search_text LIKE $1
 *   -- SEARCH_KEYS_BY_TOKEN only:  WHERE search_tokens @> ARRAY[$1]::text[]
 *
 * (kehud itself reads the tokens from the search side table,
 * customer_search_key, since sql/0035; sql/0040 dropped the GIN index on
 * search_tokens.)
 *
 * LIKE (not ILIKE): both sides are already case-folded, and the pattern is
 * escaped for LIKE's default escape character, the backslash.
 *
 * Not thread-safe: one process-wide transliterator used from the loop's
 * thread. (A thread-pool user would need utrans_clone per thread.) */
#ifndef KEHU_SEARCH_KEYS_H
#define KEHU_SEARCH_KEYS_H

#include <stddef.h>

#define SEARCH_KEYS_TOKENS_MAX 64     /* tokens per customer */
#define SEARCH_KEYS_NAME_TOKENS 48    /* of which the name may take, the company the rest */
#define SEARCH_KEYS_TOKEN_BYTES 64    /* a longer token is left out (the text still has it) */
#define SEARCH_KEYS_FIELD_BYTES 1024  /* of each field, the first bytes are indexed */
#define SEARCH_KEYS_PINYIN_UNITS 64   /* Han characters and words of a field given pinyin */
#define SEARCH_KEYS_VARIANTS_MAX 4    /* alternative readings per field */
#define SEARCH_KEYS_PHONES_MAX 16     /* phones indexed per customer */
#define SEARCH_KEYS_PHONE_DIGITS 32   /* digits indexed per phone */
#define SEARCH_KEYS_SORT_KEY_BYTES 256  /* a sort key is cut there (B-tree items must stay small) */
/* Runs of this many digits are looked up in the search side table
 * (customer_search_key, rank 2: sql/0040_search_key_digits.sql writes every
 * run of 4 digits and the last 3 digits of each run, and reads 3 digits as
 * those 3 and the 4 that start with them); longer digit queries go through
 * the text. */
#define SEARCH_KEYS_DIGITS_MIN 3
#define SEARCH_KEYS_DIGITS_MAX 4

/* Return codes: 0 or one of these. */
enum {
    SEARCH_KEYS_ENOMEM = -1,  /* out of memory (or ICU failed internally) */
    SEARCH_KEYS_EINVAL = -2,  /* a string is not valid UTF-8; or search_keys_init was not called */
    SEARCH_KEYS_EEMPTY = -3,  /* query: nothing left after normalising */
    SEARCH_KEYS_ESHORT = -4,  /* query: one or two characters that are not all Han or letters ("13", "a1") */
};

struct search_keys {
    char *text;       /* search_text, "" when every field is empty */
    char **tokens;    /* search_tokens */
    size_t ntokens;
    char *sort_key;   /* search_keys_sort_key(name), from the same reading; "" without a name */
};

/* Any field may be NULL or "". Fields must be valid UTF-8. */
struct search_keys_input {
    const char *name;
    const char *company;
    const char *email;
    const char *id_number;
    const char *ext_ref;
    const char *const *phones;
    size_t nphones;
};

/* Opens the transliterator (about 0.1 s: call once at start-up). 0, or -1
 * when ICU cannot open it (data missing). Calling it again does nothing. */
int search_keys_init(void);
/* Closes it. It does not call u_cleanup(): ICU is process-wide; a program
 * that wants a clean exit under valgrind calls u_cleanup() itself, last. */
void search_keys_shutdown(void);

/* Fills out (all malloc'd; free with search_keys_free). On error out is left
 * empty and a negative code is returned: SEARCH_KEYS_EINVAL when a field is
 * not valid UTF-8 (the whole field is checked, not only the indexed part),
 * SEARCH_KEYS_ENOMEM when memory runs out. */
int search_keys_build(const struct search_keys_input *in, struct search_keys *out);
/* Frees and empties k; harmless on an empty or zeroed one. */
void search_keys_free(struct search_keys *k);

/* The tokens as a PostgreSQL array literal, {"a","b"} (" and \ escaped),
 * "{}" when there are none; for a text[] parameter. malloc'd; NULL when out
 * of memory. */
char *search_keys_tokens_literal(const struct search_keys *k);

/* The name as customers are ordered (customer.sort_key, compared bytewise,
 * COLLATE "C" or C.UTF-8): its pinyin, syllables and words separated by
 * spaces, a polyphonic surname read as a surname (曾 as zeng), then a tab and
 * the normalised name to order names that read the same. 李 "li\t李" <
 * 李娜 "li na\t李娜" < 林 "lin\t林" < 王 "wang\t王"; Latin names fall among
 * them by their letters ("john smith\tjohn smith" after "jiang ..."). At most
 * SEARCH_KEYS_SORT_KEY_BYTES bytes; "" for an empty name. malloc'd; NULL
 * when out of memory, name is NULL or not valid UTF-8, or search_keys_init
 * was not called. */
char *search_keys_sort_key(const char *name);

enum search_keys_mode {
    SEARCH_KEYS_BY_TEXT = 1,   /* search_text LIKE like */
    SEARCH_KEYS_BY_TOKEN = 2,  /* search_tokens @> ARRAY[token] */
};

struct search_keys_query {
    int modes;                                /* one or both (then OR the two conditions) */
    char like[512];                           /* "%...%" with %, _ and \ escaped */
    char token[SEARCH_KEYS_TOKEN_BYTES + 1];
    char digits[SEARCH_KEYS_DIGITS_MAX + 1];  /* "" unless the query is 3 or 4 digits (then also like) */
};

/* Normalises what the user typed and says how to search for it:
 * - a phone-looking query (digits with spaces, + - ( ) .) keeps its digits
 *   only: "138 0013" searches "1380013";
 * - a query of Han characters loses its spaces: "张 三" searches "张三";
 * - one or two characters, all Han or letters: SEARCH_KEYS_BY_TOKEN with the
 *   query itself (张, 张三, zs); other one- or two-character queries give
 *   SEARCH_KEYS_ESHORT (they would match nearly everyone);
 * - three or more characters: SEARCH_KEYS_BY_TEXT with like = "%q%"; when the
 *   query is ASCII letters (spaces allowed: "wxm", "z x m", "zhang san") also
 *   SEARCH_KEYS_BY_TOKEN with the letters joined, so that initials such as
 *   "wxm" are found although the text does not contain them;
 * - a query that is SEARCH_KEYS_DIGITS_MIN to SEARCH_KEYS_DIGITS_MAX digits
 *   ("1380") also fills digits: the same match as like, as a whole key.
 * A query too long for like is cut at a character boundary (it then matches
 * more, never fewer). Returns 0, SEARCH_KEYS_EEMPTY (NULL, or nothing left),
 * SEARCH_KEYS_ESHORT, SEARCH_KEYS_EINVAL (not UTF-8) or SEARCH_KEYS_ENOMEM.
 * Does not need search_keys_init. */
int search_keys_query(const char *typed, struct search_keys_query *q);

#endif

/* Masking of sensitive fields for users who may see a customer but not its
 * ID number and phone numbers in full: 138****5678, 110101********123X.
 * Characters are counted as UTF-8 code points, so a stray non-ASCII
 * character never leaves half a character behind. */
#ifndef KEHU_MASK_H
#define KEHU_MASK_H

#include "util.h"

/* Keeps the first `head` and last `tail` characters and stars the rest;
 * a value too short to keep both (with at least 4 starred) keeps only its
 * last character, or nothing when it is a single one. "" stays "". */
char *mask_keep(struct arena *a, const char *s, int head, int tail);
char *mask_phone(struct arena *a, const char *s);      /* head 3, tail 4 */
/* What a stored ID number reads as when it cannot be opened (kehud serves
 * without its ID number key: sql/0017's id_unavailable()). */
#define ID_UNAVAILABLE "(unavailable)"
char *mask_id_number(struct arena *a, const char *s);  /* head 6, tail 4; ID_UNAVAILABLE as it is */
/* Every run of five or more digits and letters X in free text (a logged
 * ["13812345678","010..."] list, an ID number) masked as mask_keep would,
 * keeping at most 3 ahead and 4 behind; the rest of the text unchanged. */
char *mask_digits(struct arena *a, const char *s);

#endif

/* Checks and normal forms for what clients send: phones, e-mail, dates, ID
 * numbers, free text. Each returns NULL when the value is acceptable, else a
 * short reason for the client ("is not a date (YYYY-MM-DD)"). */
#ifndef KEHU_VALIDATE_H
#define KEHU_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

/* A mainland mobile, landline (with area code, perhaps an extension) or
 * 400/800 number, or + and a country code (validate.c says exactly); into
 * its digits, a leading '+' and "-<extension>". */
const char *validate_phone(const char *in, char *out, size_t outsz);
const char *validate_email(const char *s);
/* A real calendar date YYYY-MM-DD between 1900-01-01 and 2100-12-31. */
const char *validate_date(const char *s);
/* Upper-cases. What looks like a PRC resident ID (14 to 20 digits, perhaps a
 * final X) must be one: 18 characters, a province code, a real birth date
 * from 1900 to today, the check character; a 15-digit first-generation
 * number becomes its 18-digit form. Other documents: 5 to 30 letters,
 * digits and dashes. */
const char *validate_id_number(const char *in, char *out, size_t outsz);
/* One line of display text: no control characters, no surrounding spaces, at most max_chars characters. */
const char *validate_line(const char *s, size_t max_chars);
/* Like validate_line, but newlines and tabs are allowed (notes). */
const char *validate_text(const char *s, size_t max_chars);
/* A date of birth: validate_date, and not after today (UTC). */
const char *validate_birth(const char *s);
/* Spreadsheet dates: YYYY-MM-DD, YYYY/M/D, YYYY.MM.DD, optionally followed
 * by a time (ignored); written to out as YYYY-MM-DD. */
const char *validate_date_loose(const char *in, char out[11]);
/* A decimal amount as people type it: "1234.5", "-3.07", "1,234.50",
 * "¥88", "￥1 000"; at most 2 decimals; into minor units (fen). */
const char *validate_money(const char *in, int64_t *minor);
/* Today's date in UTC as YYYY-MM-DD. */
void validate_today(char out[11]);

#endif
